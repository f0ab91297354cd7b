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
    hasher: RandomState,
    slots: Mutex<Slots>,
}

/// Slot key → the client address and the whole ticket text that verified.
type Slots = HashMap<u64, (ClientIp, Box<str>), BuildHasherDefault<KeyedAlready>>;

/// The map's hasher for slot keys that are already [`VerifiedTickets::hasher`]'s keyed
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

impl VerifiedTickets {
    /// Remembers up to `capacity` tickets; `0` remembers none (every use is verified).
    pub(crate) fn new(capacity: usize) -> Self {
        VerifiedTickets {
            capacity,
            hasher: RandomState::new(),
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
        let key = self.hasher.hash_one(digest);
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
