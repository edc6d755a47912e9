//! CPU cost of one invocation in the functions' own code: event parsing, validation, the domain,
//! JSON out. The store is the in-memory reference (`MemoryStore`), so DynamoDB's latency is left
//! out on purpose: that is what `playback-load` measures.
//!
//! Run: `cargo bench -p playback-bench --bench handlers` (or `scripts/bench.sh`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use playback::domain::listing::{continue_watching, PageSize};
use playback::domain::{
    Change, Completion, DeviceId, Origin, PlaybackState, PlaybackUpdate, Position, Rules, Seq,
    Stamp, VideoId,
};
use playback::store::MemoryStore;
use playback::App;
use playback_bench::{event_json, request};
use serde_json::json;

fn report(video: &str, seq: u64, position: f64) -> serde_json::Value {
    json!({ "profile_id": "alice", "video_id": video, "device_id": "tv", "seq": seq, "position": position, "duration": 3600 })
}

/// An app whose store holds `videos` in-progress entries for acct-1/alice.
fn app_with(runtime: &tokio::runtime::Runtime, videos: usize) -> App<MemoryStore> {
    let app = App::new(MemoryStore::new(), Rules::default());
    runtime.block_on(async {
        for i in 0..videos {
            let event = event_json(
                "acct-1",
                "POST",
                "/playback/update",
                "",
                Some(&report(&format!("v{i}"), i as u64 + 1, 600.0)),
            );
            app.update(request(&event)).await;
        }
    });
    app
}

fn handlers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = app_with(&runtime, 500);
    let mut seq = 1_000_000u64;

    let update_event = event_json(
        "acct-1",
        "POST",
        "/playback/update",
        "",
        Some(&report("v1", 1, 1200.5)),
    );
    c.bench_function("event_parse/update", |b| {
        b.iter(|| black_box(request(black_box(&update_event))))
    });

    c.bench_function("update/report_applied", |b| {
        b.iter_batched(
            || {
                seq += 1;
                request(&event_json(
                    "acct-1",
                    "POST",
                    "/playback/update",
                    "",
                    Some(&report("v1", seq, 1200.5)),
                ))
            },
            |req| runtime.block_on(app.update(req)),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("update/invalid_rejected", |b| {
        let bad = event_json(
            "acct-1",
            "POST",
            "/playback/update",
            "",
            Some(&json!({ "profile_id": "alice", "position": -1 })),
        );
        b.iter_batched(
            || request(&bad),
            |req| runtime.block_on(app.update(req)),
            BatchSize::SmallInput,
        )
    });

    let one = event_json(
        "acct-1",
        "GET",
        "/playback/resume",
        "profile_id=alice&video_id=v7&local_position=300",
        None,
    );
    c.bench_function("resume/one_with_guardrail", |b| {
        b.iter_batched(
            || request(&one),
            |req| runtime.block_on(app.resume(req)),
            BatchSize::SmallInput,
        )
    });
    let list = event_json(
        "acct-1",
        "GET",
        "/playback/resume",
        "profile_id=alice&limit=20",
        None,
    );
    c.bench_function("resume/continue_watching_500_entries", |b| {
        b.iter_batched(
            || request(&list),
            |req| runtime.block_on(app.resume(req)),
            BatchSize::SmallInput,
        )
    });
    let ids: Vec<String> = (0..100).map(|i| format!("v{}", i * 7)).collect();
    let batch = event_json(
        "acct-1",
        "POST",
        "/playback/resume/batch",
        "",
        Some(&json!({ "profile_id": "alice", "video_ids": ids })),
    );
    c.bench_function("resume/batch_100", |b| {
        b.iter_batched(
            || request(&batch),
            |req| runtime.block_on(app.resume(req)),
            BatchSize::SmallInput,
        )
    });
}

fn domain(c: &mut Criterion) {
    let entries: Vec<(VideoId, PlaybackState)> = (0..5000u64)
        .map(|i| {
            let state = PlaybackState {
                position: Position::from_seconds(60.0 + (i % 3000) as f64).unwrap(),
                duration: Some(Position::from_seconds(3600.0).unwrap()),
                hidden: i % 50 == 0,
                origin: Origin {
                    device: DeviceId::parse("tv").unwrap(),
                    seq: Seq::new(i).unwrap(),
                    updated_at: Stamp::from_millis(1_796_000_000_000 + (i * 7919) % 100_000),
                },
            };
            (VideoId::parse(&format!("v{i}")).unwrap(), state)
        })
        .collect();
    c.bench_function("domain/continue_watching_page_of_5000", |b| {
        b.iter_batched(
            || entries.clone(),
            |entries| continue_watching(entries, &Completion::default(), None, PageSize::DEFAULT),
            BatchSize::LargeInput,
        )
    });
    let store = MemoryStore::new();
    let key = playback::domain::PlaybackKey {
        account: playback::domain::AccountId::parse("a").unwrap(),
        profile: playback::domain::ProfileId::parse("p").unwrap(),
        video: VideoId::parse("v").unwrap(),
    };
    let mut n = 0u64;
    c.bench_function("domain/ordering_rule_apply", |b| {
        b.iter(|| {
            n += 1;
            store.apply_now(&PlaybackUpdate {
                key: key.clone(),
                origin: Origin {
                    device: DeviceId::parse(if n.is_multiple_of(2) { "tv" } else { "phone" })
                        .unwrap(),
                    seq: Seq::new(n).unwrap(),
                    updated_at: Stamp::from_millis(n),
                },
                change: Change::Report {
                    position: Position::from_millis(n % 1_000_000).unwrap(),
                    duration: None,
                },
                now: Stamp::from_millis(n),
                expires_at: u64::MAX,
            })
        })
    });
}

criterion_group!(benches, handlers, domain);
criterion_main!(benches);
