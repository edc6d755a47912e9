//! DynamoDB adapter: one conditional `UpdateItem` per write, no read before it.
//!
//! Item layout (see `template.yaml`):
//! `pk` = `account_id#profile_id`, `sk` = `video_id`, `position_ms`, `updated_at` (ms, the ordering stamp),
//! `device_id`, `seq`, `expires_at` (epoch seconds, the TTL attribute) and one `seq#<device_id>` per device
//! that wrote the key, so a late request can be compared with its own device's newest update.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::{PlaybackStore, StoreError, WriteResult};
use crate::domain::{DeviceId, PlaybackKey, PlaybackState, PlaybackUpdate, Position, Seq, Stamp};

const PK: &str = "pk";
const SK: &str = "sk";
const POSITION: &str = "position_ms";
const UPDATED_AT: &str = "updated_at";
const DEVICE: &str = "device_id";
const SEQ: &str = "seq";
/// The table's TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";
const DEVICE_SEQ_PREFIX: &str = "seq#";

/// Every attribute goes through a placeholder, so no name can clash with DynamoDB's reserved words.
const UPDATE_EXPRESSION: &str =
    "SET #position = :position, #updated_at = :updated_at, #device = :device, #seq = :seq, \
     #expires_at = :expires_at, #device_seq = :seq";

/// [`crate::domain::ordering::supersedes`] as a condition: absent or expired, or later by server
/// stamp and newer than the same device's last `seq`.
const SUPERSEDES_CONDITION: &str = "attribute_not_exists(#pk) OR #expires_at <= :now \
     OR (#updated_at < :updated_at AND (attribute_not_exists(#device_seq) OR #device_seq < :seq))";

const READ_PROJECTION: &str = "#position, #updated_at, #device, #seq, #expires_at";

/// Timeouts and read mode of the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub table: String,
    /// Whole budget of a read, SDK retries included.
    pub read_timeout: Duration,
    /// Whole budget of a write, SDK retries included.
    pub write_timeout: Duration,
    /// Strongly consistent reads cost twice as much; eventual reads lag by well under a second.
    pub consistent_reads: bool,
}

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    settings: StoreSettings,
}

impl DynamoStore {
    pub fn new(client: Client, settings: StoreSettings) -> Self {
        Self { client, settings }
    }

    /// Builds the SDK client from the standard AWS environment (on Lambda: the function's role and
    /// region; locally: `AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local). Called once, at init.
    ///
    /// Each attempt gets half the shorter budget, so one retry of a slow attempt still fits; the
    /// outer per-call budget in [`PlaybackStore`] bounds the whole call whatever the SDK does.
    pub async fn connect(settings: StoreSettings) -> Self {
        let shortest = settings.read_timeout.min(settings.write_timeout);
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(10))
                    .with_max_backoff(Duration::from_millis(100)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(shortest)
                    .operation_attempt_timeout(shortest / 2)
                    .build(),
            )
            .load()
            .await;
        Self::new(Client::new(&sdk_config), settings)
    }

    pub fn table(&self) -> &str {
        &self.settings.table
    }
}

fn device_seq_attribute(device: &DeviceId) -> String {
    format!("{DEVICE_SEQ_PREFIX}{device}")
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// Runs a store call within `budget`; an overrun or SDK failure becomes a [`StoreError`].
async fn bounded<T, E>(
    budget: Duration,
    call: impl Future<Output = Result<T, SdkError<E>>>,
) -> Result<Result<T, SdkError<E>>, StoreError> {
    tokio::time::timeout(budget, call)
        .await
        .map_err(|_| StoreError::Timeout(budget))
}

fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

impl PlaybackStore for DynamoStore {
    async fn apply(&self, update: &PlaybackUpdate) -> Result<WriteResult, StoreError> {
        let state = &update.state;
        let call = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, s(&update.key.partition_key()))
            .key(SK, s(update.key.video.as_str()))
            .update_expression(UPDATE_EXPRESSION)
            .condition_expression(SUPERSEDES_CONDITION)
            .set_expression_attribute_names(Some(attribute_names(Some(&state.device))))
            .expression_attribute_values(":position", n(state.position.millis()))
            .expression_attribute_values(":updated_at", n(state.updated_at.millis()))
            .expression_attribute_values(":device", s(state.device.as_str()))
            .expression_attribute_values(":seq", n(state.seq.get()))
            .expression_attribute_values(":expires_at", n(update.expires_at))
            .expression_attribute_values(":now", n(update.now.epoch_seconds()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        match bounded(self.settings.write_timeout, call).await? {
            Ok(_) => Ok(WriteResult::Applied),
            Err(SdkError::ServiceError(err)) => match err.into_err() {
                UpdateItemError::ConditionalCheckFailedException(rejection) => {
                    let item = rejection.item.ok_or_else(|| {
                        StoreError::Corrupt("condition failed without the stored item".into())
                    })?;
                    Ok(WriteResult::Rejected {
                        winner: state_from_item(&item)?,
                    })
                }
                other => Err(unavailable(other)),
            },
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn get(
        &self,
        key: &PlaybackKey,
        now: Stamp,
    ) -> Result<Option<PlaybackState>, StoreError> {
        let call = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key(PK, s(&key.partition_key()))
            .key(SK, s(key.video.as_str()))
            .projection_expression(READ_PROJECTION)
            .set_expression_attribute_names(Some(attribute_names(None)))
            .consistent_read(self.settings.consistent_reads)
            .send();
        let output = bounded(self.settings.read_timeout, call)
            .await?
            .map_err(unavailable)?;
        match output.item {
            Some(item) if !is_expired(&item, now)? => state_from_item(&item).map(Some),
            _ => Ok(None),
        }
    }
}

fn attribute_names(device: Option<&DeviceId>) -> HashMap<String, String> {
    let mut names: HashMap<String, String> = [
        ("#position", POSITION),
        ("#updated_at", UPDATED_AT),
        ("#device", DEVICE),
        ("#seq", SEQ),
        ("#expires_at", EXPIRES_AT),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(device) = device {
        names.insert("#pk".into(), PK.into());
        names.insert("#device_seq".into(), device_seq_attribute(device));
    }
    names
}

/// DynamoDB deletes expired items only eventually (typically within days), so reads filter them.
fn is_expired(item: &HashMap<String, AttributeValue>, now: Stamp) -> Result<bool, StoreError> {
    Ok(number(item, EXPIRES_AT)? <= now.epoch_seconds())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(raw)) => raw
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{name} is not a whole number"))),
        _ => Err(StoreError::Corrupt(format!(
            "{name} is missing or not a number"
        ))),
    }
}

fn state_from_item(item: &HashMap<String, AttributeValue>) -> Result<PlaybackState, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let device = match item.get(DEVICE) {
        Some(AttributeValue::S(raw)) => {
            DeviceId::parse(raw).map_err(|_| corrupt("device_id is invalid"))?
        }
        _ => return Err(corrupt("device_id is missing")),
    };
    Ok(PlaybackState {
        position: Position::from_millis(number(item, POSITION)?)
            .ok_or_else(|| corrupt("position_ms is out of range"))?,
        device,
        seq: Seq::new(number(item, SEQ)?).ok_or_else(|| corrupt("seq is out of range"))?,
        updated_at: Stamp::from_millis(number(item, UPDATED_AT)?),
    })
}

/// Creates the table as `template.yaml` declares it (on-demand, TTL on `expires_at`), if it is absent.
/// Used by the local run and the tests; production tables come from the SAM template.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key schema element is complete")
    };
    let string_attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition is complete")
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .attribute_definitions(string_attribute(PK))
        .attribute_definitions(string_attribute(SK))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(SdkError::ServiceError(err)) if err.err().is_resource_in_use_exception() => {
            return Ok(())
        }
        Err(err) => return Err(unavailable(err)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(EXPIRES_AT)
                .enabled(true)
                .build()
                .expect("ttl specification is complete"),
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}
