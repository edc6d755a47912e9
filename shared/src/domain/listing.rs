//! Continue watching and batch lookups: which entries a profile's list shows, in which order, and
//! the limits on pages and batches.

use super::{Completion, InvalidField, PlaybackState, Stamp, Status, VideoId};

/// Entries of one page of continue watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(usize);

impl PageSize {
    pub const FIELD: &'static str = "limit";
    pub const DEFAULT: Self = Self(20);
    pub const MAX: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        raw.parse::<usize>()
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
            .ok_or_else(|| {
                InvalidField::new(
                    Self::FIELD,
                    format!("must be a whole number from 1 to {}", Self::MAX),
                )
            })
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// Where the previous page ended: the last entry's stamp and video. Opaque to clients (hex), and
/// stable under concurrent updates: an entry updated meanwhile moves to the front, never repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    updated_at: Stamp,
    video: VideoId,
}

impl Cursor {
    pub const FIELD: &'static str = "cursor";

    pub fn encode(&self) -> String {
        format!("{}:{}", self.updated_at.millis(), self.video)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn decode(raw: &str) -> Result<Self, InvalidField> {
        let invalid = || InvalidField::new(Self::FIELD, "is not a cursor this service returned");
        if !raw.len().is_multiple_of(2) || raw.len() > 2 * 160 {
            return Err(invalid());
        }
        let bytes = (0..raw.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(raw.get(i..i + 2).ok_or_else(invalid)?, 16)
                    .map_err(|_| invalid())
            })
            .collect::<Result<Vec<u8>, _>>()?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (stamp, video) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            updated_at: Stamp::from_millis(stamp.parse().map_err(|_| invalid())?),
            video: VideoId::parse(video).map_err(|_| invalid())?,
        })
    }

    /// Sort position: most recent first, then by video id so equal stamps still have an order.
    fn sort_key(updated_at: Stamp, video: &VideoId) -> (std::cmp::Reverse<Stamp>, &VideoId) {
        (std::cmp::Reverse(updated_at), video)
    }
}

/// One page of a profile's continue-watching list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub entries: Vec<(VideoId, PlaybackState)>,
    pub next: Option<Cursor>,
}

/// The profile's unfinished, visible entries, most recent first, from after `cursor`.
/// `entries` are all of the profile's live entries, in any order.
pub fn continue_watching(
    mut entries: Vec<(VideoId, PlaybackState)>,
    completion: &Completion,
    after: Option<&Cursor>,
    size: PageSize,
) -> Page {
    entries.retain(|(video, state)| {
        !state.hidden
            && completion.status(state) == Status::InProgress
            && after.is_none_or(|c| {
                Cursor::sort_key(state.origin.updated_at, video)
                    > Cursor::sort_key(c.updated_at, &c.video)
            })
    });
    entries.sort_by(|(va, a), (vb, b)| {
        Cursor::sort_key(a.origin.updated_at, va).cmp(&Cursor::sort_key(b.origin.updated_at, vb))
    });
    let more = entries.len() > size.get();
    entries.truncate(size.get());
    let next = more.then(|| {
        let (video, state) = entries.last().expect("a full page is not empty");
        Cursor {
            updated_at: state.origin.updated_at,
            video: video.clone(),
        }
    });
    Page { entries, next }
}

/// Most videos one batch lookup may name: DynamoDB's BatchGetItem limit.
pub const MAX_BATCH: usize = 100;

/// The videos of a batch lookup: 1 to 100 distinct ids, in the order first asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoBatch(Vec<VideoId>);

impl VideoBatch {
    pub const FIELD: &'static str = "video_ids";

    pub fn new(ids: Vec<VideoId>) -> Result<Self, InvalidField> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(InvalidField::new(
                Self::FIELD,
                format!("must name 1 to {MAX_BATCH} videos"),
            ));
        }
        let mut distinct: Vec<VideoId> = Vec::with_capacity(ids.len());
        for id in ids {
            if !distinct.contains(&id) {
                distinct.push(id);
            }
        }
        Ok(Self(distinct))
    }

    pub fn ids(&self) -> &[VideoId] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeviceId, Origin, Position, Seq};

    fn entry(video: &str, at: u64, position: f64, duration: f64) -> (VideoId, PlaybackState) {
        (
            VideoId::parse(video).unwrap(),
            PlaybackState {
                position: Position::from_seconds(position).unwrap(),
                duration: Some(Position::from_seconds(duration).unwrap()),
                hidden: false,
                origin: Origin {
                    device: DeviceId::parse("tv").unwrap(),
                    seq: Seq::new(1).unwrap(),
                    updated_at: Stamp::from_millis(at),
                },
            },
        )
    }

    fn videos(page: &Page) -> Vec<&str> {
        page.entries.iter().map(|(v, _)| v.as_str()).collect()
    }

    #[test]
    fn most_recent_first_without_finished_unstarted_or_hidden() {
        let mut hidden = entry("hidden", 50, 600.0, 3600.0);
        hidden.1.hidden = true;
        let entries = vec![
            entry("old", 10, 600.0, 3600.0),
            entry("finished", 40, 3500.0, 3600.0),
            entry("new", 30, 600.0, 3600.0),
            entry("barely", 35, 5.0, 3600.0),
            hidden,
        ];
        let page = continue_watching(entries, &Completion::default(), None, PageSize::DEFAULT);
        assert_eq!(videos(&page), ["new", "old"]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats_even_with_equal_stamps() {
        let entries: Vec<_> = (0..7)
            .map(|i| entry(&format!("v{i}"), 100 - (i / 2), 600.0, 3600.0))
            .collect();
        let size = PageSize::parse("3").unwrap();
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = continue_watching(
                entries.clone(),
                &Completion::default(),
                cursor.as_ref(),
                size,
            );
            seen.extend(videos(&page).into_iter().map(str::to_owned));
            match page.next {
                Some(next) => cursor = Some(Cursor::decode(&next.encode()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, ["v0", "v1", "v2", "v3", "v4", "v5", "v6"]);
    }

    #[test]
    fn cursor_round_trips_and_rejects_forgeries() {
        let cursor = Cursor {
            updated_at: Stamp::from_millis(1_796_418_552_345),
            video: VideoId::parse("tt0111161").unwrap(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "zz", "abc", "3a", &"00".repeat(200), "313a", "613a62"] {
            assert_eq!(Cursor::decode(bad).unwrap_err().field, "cursor", "{bad}");
        }
    }

    #[test]
    fn page_size_is_bounded() {
        assert_eq!(PageSize::parse("100").unwrap().get(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert_eq!(PageSize::parse(bad).unwrap_err().field, "limit");
        }
    }

    #[test]
    fn batch_is_bounded_and_deduplicated_in_order() {
        let id = |s: &str| VideoId::parse(s).unwrap();
        let batch = VideoBatch::new(vec![id("b"), id("a"), id("b")]).unwrap();
        assert_eq!(batch.ids(), [id("b"), id("a")]);
        assert!(VideoBatch::new(vec![]).is_err());
        assert!(VideoBatch::new((0..101).map(|i| id(&format!("v{i}"))).collect()).is_err());
        assert!(VideoBatch::new((0..100).map(|i| id(&format!("v{i}"))).collect()).is_ok());
    }
}
