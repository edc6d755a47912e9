//! POST /playback/update: records a player's position report (last write wins).
//!
//! Everything is built once at init and reused by every invocation; the logic lives in `playback`.

use std::sync::Arc;

use lambda_http::{run_concurrent, service_fn, Error};
use playback::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playback::telemetry::init();
    let app = Arc::new(App::from_env().await?);
    // Sequential on classic Lambda; concurrent where AWS_LAMBDA_MAX_CONCURRENCY allows (Managed Instances).
    run_concurrent(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(app.update(request).await) }
    }))
    .await
}
