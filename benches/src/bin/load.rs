//! playback-load: drives the real handlers (`App<DynamoStore>`, event parsing included) against a
//! DynamoDB endpoint with a player-like mix, and reports throughput and latency percentiles.
//!
//! ```text
//! playback-load [--table NAME] [--seconds 20] [--concurrency 16] [--profiles 400] [--videos 20]
//!               [--read-share 50] [--read-timeout-ms 150] [--write-timeout-ms 500] [--list-timeout-ms 300]
//!               [--cache-url redis://127.0.0.1:6379]
//! ```
//! The endpoint and credentials come from the standard AWS environment (`AWS_ENDPOINT_URL_DYNAMODB`
//! for DynamoDB Local; nothing for a real table). The table is created if absent.
//! Writes are position reports; reads are 80 % single resumes, 15 % continue-watching pages and 5 %
//! batch lookups of 20 videos. Each worker owns its profiles, so `seq`s are consistent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use playback::domain::Rules;
use playback::store::{create_table, CacheSettings, CachedStore, DynamoStore, StoreSettings};
use playback::App;
use playback_bench::{event_json, request, Rng};
use serde_json::json;

#[derive(Debug, Clone)]
struct Options {
    table: String,
    seconds: u64,
    concurrency: u64,
    profiles: u64,
    videos: u64,
    read_share: u64,
    settings: (u64, u64, u64),
    cache_url: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        table: "playback-load".into(),
        seconds: 20,
        concurrency: 16,
        profiles: 400,
        videos: 20,
        read_share: 50,
        settings: (150, 500, 300),
        cache_url: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            return Err(format!("{} needs a value", pair[0]));
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} needs a whole number"))
        };
        match flag.as_str() {
            "--table" => o.table = value.clone(),
            "--seconds" => o.seconds = number()?,
            "--concurrency" => o.concurrency = number()?.max(1),
            "--profiles" => o.profiles = number()?.max(1),
            "--videos" => o.videos = number()?.max(1),
            "--read-share" => o.read_share = number()?.min(100),
            "--read-timeout-ms" => o.settings.0 = number()?,
            "--write-timeout-ms" => o.settings.1 = number()?,
            "--list-timeout-ms" => o.settings.2 = number()?,
            "--cache-url" => o.cache_url = Some(value.clone()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

#[derive(Default)]
struct Samples {
    micros: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

async fn worker(
    app: Arc<App<CachedStore<DynamoStore>>>,
    o: Options,
    id: u64,
    until: Instant,
) -> BTreeMap<&'static str, Samples> {
    let mut rng = Rng::new(0x9e37_79b9 ^ ((id + 1) * 7919));
    let mut results: BTreeMap<&'static str, Samples> = BTreeMap::new();
    let mut seqs: BTreeMap<(u64, bool), u64> = BTreeMap::new();
    let owned: Vec<u64> = (0..o.profiles)
        .filter(|p| p % o.concurrency == id)
        .collect();
    if owned.is_empty() {
        return results;
    }
    while Instant::now() < until {
        let profile = owned[rng.below(owned.len() as u64) as usize];
        let account = format!("acct-{}", profile / 4);
        let profile_id = format!("p{}", profile % 4);
        let video = format!("v{}", rng.below(o.videos));
        let (route, event) = if rng.below(100) >= o.read_share {
            let tv = rng.below(2) == 0;
            let seq = seqs.entry((profile, tv)).or_insert(0);
            *seq += 1;
            let body = json!({
                "profile_id": profile_id, "video_id": video, "device_id": if tv { "tv" } else { "phone" },
                "seq": *seq, "position": 30 + rng.below(3000), "duration": 3600
            });
            (
                "update",
                event_json(&account, "POST", "/playback/update", "", Some(&body)),
            )
        } else {
            match rng.below(100) {
                0..80 => {
                    let query = format!("profile_id={profile_id}&video_id={video}");
                    (
                        "resume/one",
                        event_json(&account, "GET", "/playback/resume", &query, None),
                    )
                }
                80..95 => {
                    let query = format!("profile_id={profile_id}&limit=20");
                    (
                        "resume/list",
                        event_json(&account, "GET", "/playback/resume", &query, None),
                    )
                }
                _ => {
                    let ids: Vec<String> = (0..20)
                        .map(|i| format!("v{}", (i * 3) % o.videos.max(20)))
                        .collect();
                    let body = json!({ "profile_id": profile_id, "video_ids": ids });
                    (
                        "resume/batch",
                        event_json(&account, "POST", "/playback/resume/batch", "", Some(&body)),
                    )
                }
            }
        };
        let started = Instant::now();
        let req = request(&event);
        let response = if route == "update" {
            app.update(req).await
        } else {
            app.resume(req).await
        };
        let samples = results.entry(route).or_default();
        samples.micros.push(started.elapsed().as_micros() as u64);
        *samples
            .statuses
            .entry(response.status().as_u16())
            .or_insert(0) += 1;
    }
    results
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    create_table(&aws_sdk_dynamodb::Client::new(&sdk), &o.table).await?;
    let (read, write, list) = o.settings;
    let store = DynamoStore::connect(StoreSettings {
        table: o.table.clone(),
        read_timeout: Duration::from_millis(read),
        write_timeout: Duration::from_millis(write),
        list_timeout: Duration::from_millis(list),
        consistent_reads: false,
    })
    .await;
    let store = match &o.cache_url {
        None => CachedStore::without_cache(store),
        Some(url) => {
            let cache = CacheSettings {
                url: url.clone(),
                timeout: Duration::from_millis(read.min(200)),
                ttl: Duration::from_secs(300),
            };
            let store = CachedStore::with_cache(store, cache)?;
            store.warm_up().await;
            store
        }
    };
    let app = Arc::new(App::new(store, Rules::default()));
    println!(
        "playback-load: {} s, {} workers, {} profiles x {} videos, {} % reads, budgets read {read} / write {write} / list {list} ms, cache {}",
        o.seconds,
        o.concurrency,
        o.profiles,
        o.videos,
        o.read_share,
        o.cache_url.as_deref().unwrap_or("off")
    );
    let until = Instant::now() + Duration::from_secs(o.seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..o.concurrency)
        .map(|id| tokio::spawn(worker(Arc::clone(&app), o.clone(), id, until)))
        .collect();
    let mut all: BTreeMap<&'static str, Samples> = BTreeMap::new();
    for task in tasks {
        for (route, samples) in task.await? {
            let merged = all.entry(route).or_default();
            merged.micros.extend(samples.micros);
            for (status, n) in samples.statuses {
                *merged.statuses.entry(status).or_insert(0) += n;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{:<13} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  statuses",
        "route", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let mut total = 0;
    for (route, samples) in &mut all {
        samples.micros.sort_unstable();
        let m = &samples.micros;
        total += m.len();
        println!(
            "{route:<13} {:>8} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {:?}",
            m.len(),
            m.len() as f64 / elapsed,
            percentile(m, 0.50),
            percentile(m, 0.90),
            percentile(m, 0.99),
            percentile(m, 1.0),
            samples.statuses
        );
    }
    println!("total         {total:>8} {:>8.0}", total as f64 / elapsed);
    Ok(())
}
