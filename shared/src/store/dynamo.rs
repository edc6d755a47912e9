//! DynamoDB adapter: one conditional `UpdateItem` per write, no read before it.
//!
//! Item layout (see `template.yaml`): `pk` = `account_id#profile_id`, `sk` = `video_id`,
//! `position_ms`, `duration_ms` (optional), `hidden` (optional), `updated_at` (ms, the ordering
//! stamp), `device_id`, `seq`, `expires_at` (epoch seconds, the TTL attribute), and one
//! `seq#<device_id>` per device that wrote the key, so a late request can be compared with its own
//! device's newest update.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::{PlaybackStore, StoreError, WriteResult};
use crate::domain::{
    Change, DeviceId, Origin, PlaybackKey, PlaybackState, PlaybackUpdate, Position, ProfileKey,
    Seq, Stamp, VideoId,
};

const PK: &str = "pk";
const SK: &str = "sk";
const POSITION: &str = "position_ms";
const DURATION: &str = "duration_ms";
const HIDDEN: &str = "hidden";
const UPDATED_AT: &str = "updated_at";
const DEVICE: &str = "device_id";
const SEQ: &str = "seq";
/// The table's TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";
const DEVICE_SEQ_PREFIX: &str = "seq#";

/// Most entries one continue-watching request reads. With 180 days of retention a profile holds far
/// fewer; the bound keeps a pathological partition from turning one request into many pages.
pub const MAX_LIST_ENTRIES: usize = 5000;

/// What every write sets: who changed the entry and when, and the refreshed TTL.
const SET_ORIGIN: &str = "#updated_at = :updated_at, #device = :device, #seq = :seq, \
     #expires_at = :expires_at, #device_seq = :seq";

/// [`crate::domain::ordering::supersedes`] for position reports: absent or expired, or later by
/// server stamp and newer than the same device's last `seq`.
const REPORT_CONDITION: &str = "attribute_not_exists(#pk) OR #expires_at <= :now \
     OR (#updated_at < :updated_at AND (attribute_not_exists(#device_seq) OR #device_seq < :seq))";

/// The same rule for remove and unwatch, which act only on a live entry.
const EXISTING_CONDITION: &str = "attribute_exists(#pk) AND #expires_at > :now \
     AND #updated_at < :updated_at AND (attribute_not_exists(#device_seq) OR #device_seq < :seq)";

/// Every attribute goes through a placeholder, so no name can clash with DynamoDB's reserved words.
const READ_PROJECTION: &str =
    "#sk, #position, #duration, #hidden, #updated_at, #device, #seq, #expires_at";

/// Timeouts and read mode of the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub table: String,
    /// Whole budget of a single read, SDK retries included.
    pub read_timeout: Duration,
    /// Whole budget of a write, SDK retries included.
    pub write_timeout: Duration,
    /// Whole budget of a continue-watching list or a batch lookup, retries included.
    pub list_timeout: Duration,
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
    /// Each attempt gets half the shortest budget, so one retry of a slow attempt still fits; the
    /// outer per-call budget bounds the whole call whatever the SDK does.
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
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// Runs a store call within `budget`; an overrun becomes [`StoreError::Timeout`].
async fn bounded<T>(budget: Duration, call: impl Future<Output = T>) -> Result<T, StoreError> {
    tokio::time::timeout(budget, call)
        .await
        .map_err(|_| StoreError::Timeout(budget))
}

fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// Placeholders for attribute names; only those an expression uses may be sent.
fn names(placeholders: &[(&str, &str)]) -> HashMap<String, String> {
    placeholders
        .iter()
        .map(|(placeholder, name)| ((*placeholder).to_owned(), (*name).to_owned()))
        .collect()
}

fn read_names() -> HashMap<String, String> {
    names(&[
        ("#sk", SK),
        ("#position", POSITION),
        ("#duration", DURATION),
        ("#hidden", HIDDEN),
        ("#updated_at", UPDATED_AT),
        ("#device", DEVICE),
        ("#seq", SEQ),
        ("#expires_at", EXPIRES_AT),
    ])
}

/// The update expression, condition and placeholders of one change.
fn write_expressions(
    update: &PlaybackUpdate,
) -> (
    String,
    &'static str,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let origin = &update.origin;
    let device_seq = format!("{DEVICE_SEQ_PREFIX}{}", origin.device);
    let mut names = names(&[
        ("#pk", PK),
        ("#updated_at", UPDATED_AT),
        ("#device", DEVICE),
        ("#seq", SEQ),
        ("#expires_at", EXPIRES_AT),
        ("#device_seq", &device_seq),
        ("#hidden", HIDDEN),
    ]);
    let mut values: HashMap<String, AttributeValue> = [
        (":updated_at", n(origin.updated_at.millis())),
        (":device", s(origin.device.as_str())),
        (":seq", n(origin.seq.get())),
        (":expires_at", n(update.expires_at)),
        (":now", n(update.now.epoch_seconds())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let (expression, condition) = match &update.change {
        Change::Report { position, duration } => {
            names.insert("#position".into(), POSITION.into());
            values.insert(":position".into(), n(position.millis()));
            let mut set = format!("SET #position = :position, {SET_ORIGIN}");
            if let Some(duration) = duration {
                names.insert("#duration".into(), DURATION.into());
                values.insert(":duration".into(), n(duration.millis()));
                set.push_str(", #duration = :duration");
            }
            (format!("{set} REMOVE #hidden"), REPORT_CONDITION)
        }
        Change::Remove => {
            values.insert(":hidden".into(), AttributeValue::Bool(true));
            (
                format!("SET #hidden = :hidden, {SET_ORIGIN}"),
                EXISTING_CONDITION,
            )
        }
        Change::Unwatch => {
            names.insert("#position".into(), POSITION.into());
            values.insert(":position".into(), n(0));
            (
                format!("SET #position = :position, {SET_ORIGIN} REMOVE #hidden"),
                EXISTING_CONDITION,
            )
        }
    };
    (expression, condition, names, values)
}

impl PlaybackStore for DynamoStore {
    async fn apply(&self, update: &PlaybackUpdate) -> Result<WriteResult, StoreError> {
        let (expression, condition, names, values) = write_expressions(update);
        let call = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key(PK, s(&update.key.partition_key()))
            .key(SK, s(update.key.video.as_str()))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        match bounded(self.settings.write_timeout, call).await? {
            Ok(output) => {
                let item = output
                    .attributes
                    .ok_or_else(|| StoreError::Corrupt("write returned no attributes".into()))?;
                Ok(WriteResult::Applied {
                    state: state_from_item(&item)?,
                })
            }
            Err(SdkError::ServiceError(err)) => match err.into_err() {
                UpdateItemError::ConditionalCheckFailedException(rejection) => match rejection.item
                {
                    Some(item) if !is_expired(&item, update.now)? => Ok(WriteResult::Rejected {
                        winner: state_from_item(&item)?,
                    }),
                    // Only remove and unwatch fail on an absent or expired entry.
                    _ => Ok(WriteResult::Missing),
                },
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
            .set_expression_attribute_names(Some(read_names()))
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

    async fn list(
        &self,
        profile: &ProfileKey,
        now: Stamp,
    ) -> Result<Vec<(VideoId, PlaybackState)>, StoreError> {
        bounded(self.settings.list_timeout, async {
            let mut entries = Vec::new();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.settings.table)
                    .key_condition_expression("#pk = :pk")
                    .projection_expression(READ_PROJECTION)
                    .set_expression_attribute_names(Some(read_names()))
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", s(&profile.partition_key()))
                    .consistent_read(self.settings.consistent_reads)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in page.items.unwrap_or_default() {
                    if entries.len() >= MAX_LIST_ENTRIES {
                        return Ok(entries);
                    }
                    if !is_expired(&item, now)? {
                        entries.push(entry_from_item(&item)?);
                    }
                }
                match page.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => return Ok(entries),
                }
            }
        })
        .await?
    }

    async fn batch_get(
        &self,
        profile: &ProfileKey,
        videos: &[VideoId],
        now: Stamp,
    ) -> Result<Vec<(VideoId, PlaybackState)>, StoreError> {
        if videos.is_empty() {
            return Ok(Vec::new());
        }
        let pk = s(&profile.partition_key());
        let keys = videos
            .iter()
            .map(|video| {
                HashMap::from([
                    (PK.to_owned(), pk.clone()),
                    (SK.to_owned(), s(video.as_str())),
                ])
            })
            .collect();
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .projection_expression(READ_PROJECTION)
            .set_expression_attribute_names(Some(read_names()))
            .consistent_read(self.settings.consistent_reads)
            .build()
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        let table = self.settings.table.clone();
        bounded(self.settings.list_timeout, async {
            let mut found = Vec::new();
            let mut pending = HashMap::from([(table.clone(), request)]);
            let mut backoff = Duration::from_millis(5);
            loop {
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&table)
                    .unwrap_or_default()
                {
                    if !is_expired(&item, now)? {
                        found.push(entry_from_item(&item)?);
                    }
                }
                // Keys DynamoDB did not get to (throttling, size limits) come back to be asked again.
                match output.unprocessed_keys {
                    Some(unprocessed) if unprocessed.values().any(|k| !k.keys().is_empty()) => {
                        pending = unprocessed;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_millis(50));
                    }
                    _ => return Ok(found),
                }
            }
        })
        .await?
    }
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

fn string<'a>(
    item: &'a HashMap<String, AttributeValue>,
    name: &str,
) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(raw)) => Ok(raw),
        _ => Err(StoreError::Corrupt(format!(
            "{name} is missing or not a string"
        ))),
    }
}

fn entry_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<(VideoId, PlaybackState), StoreError> {
    let video = VideoId::parse(string(item, SK)?)
        .map_err(|_| StoreError::Corrupt("sk is not a video id".into()))?;
    Ok((video, state_from_item(item)?))
}

fn state_from_item(item: &HashMap<String, AttributeValue>) -> Result<PlaybackState, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let position = |name| {
        Position::from_millis(number(item, name)?).ok_or_else(|| corrupt("position out of range"))
    };
    Ok(PlaybackState {
        position: position(POSITION)?,
        duration: item
            .contains_key(DURATION)
            .then(|| position(DURATION))
            .transpose()?,
        hidden: matches!(item.get(HIDDEN), Some(AttributeValue::Bool(true))),
        origin: Origin {
            device: DeviceId::parse(string(item, DEVICE)?)
                .map_err(|_| corrupt("device_id is invalid"))?,
            seq: Seq::new(number(item, SEQ)?).ok_or_else(|| corrupt("seq is out of range"))?,
            updated_at: Stamp::from_millis(number(item, UPDATED_AT)?),
        },
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
