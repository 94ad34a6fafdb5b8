//! The ids the generator writes. Every row is numbered per table (case 1, 2, …); the
//! style decides how a number reads, the same way wherever it appears, so references
//! between tables resolve in every style.
//!
//! - `numeric`: a letter and the zero-padded number (`C000123`, units `U0001`), ascending
//!   in the order rows are made, as the generator always wrote them.
//! - `prefixed`: about half the rows come from a second source system whose ids read
//!   `NY-C123` (no padding), so ids differ in shape and length and sort neither by number
//!   nor by text, as in an export merged from an old and a new case system.
//! - `uuid`: UUID-shaped strings (version 4 layout) drawn from the seed: no order at all.

use datafusion::arrow::array::StringBuilder;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IdStyle {
    #[default]
    Numeric,
    Prefixed,
    Uuid,
}

impl IdStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            IdStyle::Numeric => "numeric",
            IdStyle::Prefixed => "prefixed",
            IdStyle::Uuid => "uuid",
        }
    }
}

/// What a number identifies: each has its own letter, and its own id space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Unit,
    Caseworker,
    Child,
    Case,
    Measure,
    Investigation,
    Plan,
    FollowUp,
    Notification,
    Decision,
    Complaint,
    Event,
    Posting,
}

impl Entity {
    fn letter(self) -> char {
        match self {
            Entity::Unit => 'U',
            Entity::Caseworker => 'S',
            Entity::Child => 'B',
            Entity::Case => 'C',
            Entity::Measure => 'M',
            Entity::Investigation => 'I',
            Entity::Plan => 'P',
            Entity::FollowUp => 'F',
            Entity::Notification => 'N',
            Entity::Decision => 'D',
            Entity::Complaint => 'K',
            Entity::Event => 'E',
            Entity::Posting => 'T',
        }
    }

    /// Digits of a numeric id: the organisation's few units and caseworkers have four.
    fn width(self) -> usize {
        match self {
            Entity::Unit | Entity::Caseworker => 4,
            _ => 6,
        }
    }
}

/// Turns (entity, number) into an id string in one style; cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    style: IdStyle,
    /// Drawn from the seed, so other seeds give other prefixes and UUIDs.
    salt: u64,
}

/// A bijection on 64-bit integers (the SplitMix64 finaliser): distinct inputs give
/// distinct, well-mixed outputs.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const BITS_60: u64 = (1 << 60) - 1;

/// A bijection on 60-bit integers (xor-shifts and odd multiplications modulo 2^60), so
/// 60 bits of a UUID can be unique by construction rather than by chance.
fn mix60(mut x: u64) -> u64 {
    x &= BITS_60;
    x = ((x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)) & BITS_60;
    x = ((x ^ (x >> 26)).wrapping_mul(0x94d0_49bb_1331_11eb)) & BITS_60;
    x ^ (x >> 31)
}

impl Ids {
    pub fn new(style: IdStyle, seed: u64) -> Ids {
        Ids { style, salt: mix64(seed ^ 0x6964_735f_7361_6c74) }
    }

    /// A per-entity salt, so case 7 and measure 7 do not share their UUID or system.
    fn entity_salt(self, entity: Entity) -> u64 {
        mix64(self.salt ^ u64::from(entity.letter()))
    }

    /// Writes the id of number `n` of `entity`.
    pub fn write(self, out: &mut impl std::fmt::Write, entity: Entity, n: u64) {
        let (letter, width) = (entity.letter(), entity.width());
        // Writing into a string or builder cannot fail.
        let _ = match self.style {
            IdStyle::Numeric => write!(out, "{letter}{n:0width$}"),
            IdStyle::Prefixed if mix64(self.entity_salt(entity) ^ n) & 1 == 1 => write!(out, "NY-{letter}{n}"),
            IdStyle::Prefixed => write!(out, "{letter}{n:0width$}"),
            IdStyle::Uuid => {
                let salt = self.entity_salt(entity);
                // The last 60 bits are a bijection of the number: unique per entity.
                let unique = mix60(n.wrapping_add(salt));
                let high = mix64(unique ^ salt);
                write!(
                    out,
                    "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
                    high >> 32,
                    (high >> 16) & 0xffff,
                    high & 0xfff,
                    // The variant digit: 8, 9, a or b.
                    8 | ((high >> 12) & 0x3),
                    unique >> 48,
                    unique & 0xffff_ffff_ffff
                )
            }
        };
    }

    /// Appends the id of number `n` of `entity` to a string column.
    pub fn push(self, b: &mut StringBuilder, entity: Entity, n: u64) {
        self.write(b, entity, n);
        b.append_value("");
    }

    pub fn string(self, entity: Entity, n: u64) -> String {
        let mut s = String::new();
        self.write(&mut s, entity, n);
        s
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn numeric_ids_read_as_they_always_did() {
        let ids = Ids::new(IdStyle::Numeric, 1);
        assert_eq!(ids.string(Entity::Case, 123), "C000123");
        assert_eq!(ids.string(Entity::Unit, 1), "U0001");
        assert_eq!(ids.string(Entity::Caseworker, 12), "S0012");
        assert_eq!(ids.string(Entity::Posting, 1_234_567), "T1234567");
    }

    #[test]
    fn every_style_gives_unique_ids_and_depends_on_the_seed() {
        for style in [IdStyle::Numeric, IdStyle::Prefixed, IdStyle::Uuid] {
            let ids = Ids::new(style, 7);
            let made: HashSet<String> = (1..=200_000).map(|n| ids.string(Entity::Measure, n)).collect();
            assert_eq!(made.len(), 200_000, "{style:?}");
        }
        let prefixed = Ids::new(IdStyle::Prefixed, 7);
        let second = (1..=1000).filter(|&n| prefixed.string(Entity::Case, n).starts_with("NY-")).count();
        assert!((400..600).contains(&second), "{second} of 1000 from the second system");
        assert_ne!(
            Ids::new(IdStyle::Uuid, 1).string(Entity::Case, 1),
            Ids::new(IdStyle::Uuid, 2).string(Entity::Case, 1)
        );
        assert_ne!(
            Ids::new(IdStyle::Uuid, 1).string(Entity::Case, 1),
            Ids::new(IdStyle::Uuid, 1).string(Entity::Measure, 1)
        );
    }

    #[test]
    fn uuids_have_the_version_4_layout() {
        let ids = Ids::new(IdStyle::Uuid, 3);
        for n in [0, 1, 2, 99, 1 << 40] {
            let id = ids.string(Entity::Case, n);
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
            assert!(groups[2].starts_with('4') && "89ab".contains(&groups[3][..1]), "{id}");
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{id}");
        }
    }
}
