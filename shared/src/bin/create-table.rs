//! Creates the playback table in DynamoDB Local (or any endpoint the AWS environment names) if it
//! is absent. The local run uses it; deployed tables come from `template.yaml`.

use playback::config::Config;
use playback::store::create_table;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config);
    create_table(&client, &config.store.table).await?;
    println!("table {} is ready", config.store.table);
    Ok(())
}
