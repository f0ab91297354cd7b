//! Tickets whose digest already checked out. A browser sends the same ticket with every
//! request until it is re-issued, and `remember` reads the request's ticket again after
//! `identify` did; remembering that a ticket verified saves both digests each time (about
//! 2,000 of the 5,500 instructions of an md5 `identify`).
//!
//! What is remembered is exactly what was verified: the client address used and the whole
//! ticket text, compared in constant time, so a hit means the same bytes that passed
//! [`parse_ticket`] with this plugin's secret. Lifetimes are still checked on every use (the
//! timestamp is part of the ticket). Failures are never remembered. The memo belongs to one
//! plugin value, so a reload with a new secret starts empty, and it is bounded: when full it
//! is emptied, which costs the next requests one digest each.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Mutex;

use crate::ticket::{parse_ticket, split_ticket, BadTicket, ClientIp, DigestAlgo, Ticket};

/// The verified tickets of one plugin (see the module docs).
pub(crate) struct VerifiedTickets {
    capacity: usize,
    /// A ticket's slot is a keyed hash (random per plugin value) of its digest part: a
    /// forged ticket lands in a slot nobody can predict, so whether a lookup finds an entry
    /// to compare against says nothing about how close a forgery is. Only a ticket carrying
    /// the exact digest of a remembered one shares its slot, and a hit needs the whole text.
    slot_key: SlotKey,
    slots: Mutex<Slots>,
}

/// Slot key → the client address and the whole ticket text that verified.
type Slots = HashMap<u64, (ClientIp, Box<str>), BuildHasherDefault<KeyedAlready>>;

/// The map's hasher for slot keys that are already [`SlotKey`]'s keyed
/// hashes: passes them through rather than hashing them a second time (a second SipHash
/// was a tenth of a cached `identify`).
#[derive(Default)]
struct KeyedAlready(u64);

impl Hasher for KeyedAlready {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys go in (`write_u64`); anything else is folded in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// The keyed hash that picks a ticket's slot.
///
/// Not SipHash (std's `RandomState`), which cost about 250 instructions per digest, two digests
/// per request (`identify`, then `remember`): a multiply-fold of the digest's 8-byte words
/// with two random 64-bit keys costs a few dozen. Flooding the map is not a concern that
/// needs SipHash here: only tickets whose digest verified are inserted, and a digest made
/// with this plugin's secret is not the client's to choose; a forged digest is only looked
/// up, and hashbrown's probe length for any looked-up key is bounded by the table's load.
/// The keys keep slots unpredictable for everyone outside the process (see the
/// `slot_key` field of [`VerifiedTickets`]).
struct SlotKey([u64; 2]);

impl SlotKey {
    /// Two keys drawn from the process's random source (std seeds `RandomState` from the
    /// OS), different for every plugin value.
    fn random() -> Self {
        let state = RandomState::new();
        SlotKey([state.hash_one(0x5107_u64), state.hash_one(0x6b65_u64)])
    }

    /// The slot of `digest` (the ticket's hex digest, 32 to 128 bytes).
    fn of(&self, digest: &[u8]) -> u64 {
        let [k0, k1] = self.0;
        let mut h = k0 ^ (digest.len() as u64).wrapping_mul(FOLD);
        let mut words = digest.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("chunks_exact gives 8 bytes"));
            h = fold(h ^ w, k1);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            h = fold(h ^ u64::from_le_bytes(last), k1);
        }
        fold(h, k0)
    }
}

/// An odd constant with well-mixed bits (2^64 / the golden ratio).
const FOLD: u64 = 0x9e37_79b9_7f4a_7c15;

/// One round: the full 128-bit product of `x` and the key, its halves folded together, so
/// every input bit moves both halves of the result.
#[inline]
fn fold(x: u64, key: u64) -> u64 {
    let p = u128::from(x ^ key).wrapping_mul(u128::from(FOLD));
    (p as u64) ^ ((p >> 64) as u64)
}

impl VerifiedTickets {
    /// Remembers up to `capacity` tickets; `0` remembers none (every use is verified).
    pub(crate) fn new(capacity: usize) -> Self {
        VerifiedTickets {
            capacity,
            slot_key: SlotKey::random(),
            slots: Mutex::new(HashMap::default()),
        }
    }

    /// [`parse_ticket`], skipping the digest for a ticket verified before from `ip`.
    pub(crate) fn parse<'a>(
        &self,
        secret: &[u8],
        ticket: &'a str,
        ip: &ClientIp,
        algo: DigestAlgo,
    ) -> Result<Ticket<'a>, BadTicket> {
        if self.capacity == 0 {
            return parse_ticket(secret, ticket, ip, algo);
        }
        let digest = &ticket.as_bytes()[..ticket.len().min(algo.hex_len())];
        let key = self.slot_key.of(digest);
        let seen = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.get(&key).is_some_and(|(seen_ip, seen)| {
                seen_ip == ip
                    && rewho_plugin_api::constant_time_eq(seen.as_bytes(), ticket.as_bytes())
            })
        };
        if seen {
            return split_ticket(ticket, algo).map(|(_, t)| t);
        }
        let t = parse_ticket(secret, ticket, ip, algo)?;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= self.capacity {
            slots.clear();
        }
        slots.insert(key, (*ip, ticket.into()));
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mint(secret: &[u8], user: &str, ip: &ClientIp) -> String {
        crate::ticket::mint(secret, DigestAlgo::Md5, ip, 1_700_000_000, user, &[], "").unwrap()
    }

    #[test]
    fn slots_spread_and_depend_on_every_byte_and_the_key() {
        let key = SlotKey::random();
        // Distinct digests (as hex, like a ticket's) get distinct slots.
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000u32 {
            let digest = format!("{:032x}", u128::from(i).wrapping_mul(0x1234_5678_9abc_def1));
            assert!(seen.insert(key.of(digest.as_bytes())), "collision at {i}");
        }
        // Flipping any one bit of a digest, of any length, moves it to another slot.
        for len in [32usize, 64, 128, 13] {
            let digest: Vec<u8> = (0..len).map(|i| b'a' + (i % 6) as u8).collect();
            let slot = key.of(&digest);
            for byte in 0..len {
                let mut other = digest.clone();
                other[byte] ^= 1;
                assert_ne!(key.of(&other), slot, "len {len}, byte {byte}");
            }
            // A shorter prefix is another slot too (the length is folded in).
            assert_ne!(key.of(&digest[..len - 1]), slot);
        }
        // Another plugin value's keys put the same digest elsewhere.
        let digest = b"0123456789abcdef0123456789abcdef";
        assert_ne!(SlotKey::random().of(digest), key.of(digest));
    }

    #[test]
    fn remembers_only_what_verified() {
        let secret = b"memo-secret";
        let ip = ClientIp::UNSPECIFIED;
        let memo = VerifiedTickets::new(2);
        let good = mint(secret, "alice", &ip);
        for _ in 0..3 {
            let t = memo.parse(secret, &good, &ip, DigestAlgo::Md5).unwrap();
            assert_eq!((t.userid.as_ref(), t.timestamp), ("alice", 1_700_000_000));
        }
        // A forged ticket is refused every time, before and after the good one was seen.
        let forged = good.replacen("alice", "admin", 1);
        for _ in 0..2 {
            assert_eq!(
                memo.parse(secret, &forged, &ip, DigestAlgo::Md5).err(),
                Some(BadTicket::Digest)
            );
        }
        // The same text from another address is verified again (and fails: the ticket was
        // minted for 0.0.0.0).
        let other = ClientIp::V4([10, 0, 0, 1]);
        assert_eq!(
            memo.parse(secret, &good, &other, DigestAlgo::Md5).err(),
            Some(BadTicket::Digest)
        );
        // Another plugin's memo (another secret) knows nothing of it.
        let other_memo = VerifiedTickets::new(2);
        assert!(other_memo
            .parse(b"another-secret", &good, &ip, DigestAlgo::Md5)
            .is_err());
        // Bounded: filling it past capacity keeps working.
        for user in ["bob", "carol", "dave", "erin"] {
            let t = mint(secret, user, &ip);
            assert_eq!(
                memo.parse(secret, &t, &ip, DigestAlgo::Md5).unwrap().userid,
                user
            );
            assert!(memo.slots.lock().unwrap().len() <= 2);
        }
        assert!(VerifiedTickets::new(0)
            .parse(secret, &good, &ip, DigestAlgo::Md5)
            .is_ok());
    }
}
