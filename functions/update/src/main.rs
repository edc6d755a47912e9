//! POST /playback/update: records a player's position report (last write wins).
//!
//! Everything is built once at init and reused by every invocation; the logic lives in `playback`.

use lambda_http::{run, service_fn, Error};
use playback::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playback::telemetry::init();
    let app = App::from_env().await?;
    run(service_fn(|request| async {
        Ok::<_, Error>(app.update(request).await)
    }))
    .await
}
