//! Fair shares of the host between districts and installs: instance slots
//! and CPU time, so that one district's app, however hostile, cannot take
//! the host from the others.
//!
//! **Slots.** While its instance lives, every call holds three permits: one
//! of its install's (at most [`Shares::per_install`] at once), one of its
//! district's ([`Shares::per_district`], or what the platform administrator
//! set for the district) and one of the pool's (the
//! runtime's `max_instances`). Each is a queue served in arrival order: a
//! call beyond a share waits in line, at most [`Shares::max_wait`], and is
//! then answered busy (503, `retry-after`). So an install holds at most its
//! share of the pool, a district at most its own, and the pool is never
//! asked for more instances than it has.
//!
//! **CPU.** A call that runs into its tenth epoch tick (about 10 ms of
//! running) is a long call; most requests end well before that and are
//! never held up here. A turn lasts one tick (1 ms), so a short call that
//! finds a long one on its thread waits about that long.
//! Long calls run one per district at a time
//! ([`Shares::long_per_district`]), and in all on at most
//! [`Shares::long_lanes`] threads (one fewer than the host has cores, by
//! default), taking turns at every tick in arrival order. A district whose
//! app spins therefore takes turns with the other districts' long calls
//! and never takes the core that short calls run on; its own calls queue
//! behind each other, against their own deadlines.
//!
//! An install whose calls ran long in the last [`LONG_MEMORY`] is not given
//! the benefit of the doubt again: its calls count as long from their
//! second tick, so a spinning app's stream of calls spends about a
//! millisecond each outside its district's turn, not ten. Its requests
//! also run on threads of their own ([`long_threads`]), so that while it
//! spins, the threads that take every other district's requests off the
//! network are never the ones it runs on: a request of another district
//! never waits in line behind the spinning app's turn on a thread.
//!
//! **Refusals.** While an app is suspended, the host answers its requests
//! itself, which costs almost nothing per answer, so a client that ignores
//! the answer could ask thousands of times a second and take the cores
//! from the other districts that way. Each such answer is held back up to
//! [`REFUSAL_HOLD`] (never past the app's next trial), at most as many at
//! once as the district has call slots; beyond that, it is answered at once.
//!
//! **Database.** On SQLite, transactions that write (kv writes among them)
//! and access-log entries wait in line for the one write lock
//! (`Store::write_turn`), so a district writing without pause keeps
//! another's write waiting only for the writes ahead of it. A district's calls hold at most
//! [`Shares::database_per_district`] database connections at once for the
//! operations an app can repeat in bulk (kv reads and writes, community
//! data reads, case calls and notification sends, with the access-log
//! entries they write),
//! waiting in line for a turn within their own deadline. The store has 8 connections
//! on SQLite and 16 on PostgreSQL, so a district flooding its kv leaves the
//! rest to the others, and on SQLite at most that many writes stand
//! between another district's write and the write lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::runtime::CallError;

/// How the host is shared between districts and installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shares {
    /// Most calls of one install alive at once.
    pub per_install: u32,
    /// Most calls of one district's installs alive at once.
    pub per_district: u32,
    /// Longest a call waits in line for a slot before it is answered busy.
    pub max_wait: Duration,
    /// Threads long calls may run on at once, across all districts.
    pub long_lanes: u32,
    /// Long calls of one district that may run at once.
    pub long_per_district: u32,
    /// Most database operations of one district's calls at once.
    pub database_per_district: u32,
}

impl Shares {
    /// The defaults for a pool of `max_instances`: a district may hold a
    /// quarter of the pool and an install an eighth, so three districts at
    /// their share still leave a quarter for every other; a call waits at
    /// most a second for a slot; long calls leave one core to short ones.
    pub fn for_pool(max_instances: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        Shares {
            per_install: (max_instances / 8).max(1),
            per_district: (max_instances / 4).max(1),
            max_wait: Duration::from_secs(1),
            long_lanes: cores.saturating_sub(1).max(1),
            long_per_district: 1,
            database_per_district: 2,
        }
    }

    /// No shares: any install may take the whole pool and every core, as
    /// before shares existed. For comparison in benchmarks only.
    pub fn unlimited(max_instances: u32) -> Self {
        Shares {
            per_install: max_instances,
            per_district: max_instances,
            max_wait: Duration::from_secs(1),
            long_lanes: max_instances,
            long_per_district: max_instances,
            database_per_district: max_instances,
        }
    }
}

/// The threads an install's requests run on while its calls run long
/// (see [`LongHistory`]), in a runtime of their own that lives as long as
/// the process: as many as the host has cores, so that while the long-call
/// lanes (one fewer) spin, a thread is left for the same installs' short
/// work — a write that holds SQLite's write lock must not wait for a
/// spinning call's turn to end before it commits.
pub(crate) fn long_threads() -> &'static tokio::runtime::Handle {
    static THREADS: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    THREADS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores.max(2))
                .thread_name("hutong-long")
                .enable_all()
                .build()
                .expect("start the long calls' threads")
        })
        .handle()
}

/// The longest a refusal from a suspended app is held back (see
/// [`Gates::hold_refusal`]).
pub const REFUSAL_HOLD: Duration = Duration::from_secs(1);

/// How long an install's calls are treated as long from their second
/// tick after one of them ran long.
pub const LONG_MEMORY: Duration = Duration::from_secs(10);

/// When an install's calls last ran long.
#[derive(Debug, Default)]
pub(crate) struct LongHistory {
    /// Milliseconds from [`EPOCH`] to the last long call, plus one; zero
    /// for never.
    last: AtomicU64,
}

/// The start of the clock [`LongHistory`] counts on.
static EPOCH: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

fn since_epoch_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64 + 1
}

impl LongHistory {
    /// One of the install's calls turned long now.
    pub(crate) fn note(&self) {
        self.last.store(since_epoch_ms(), Ordering::Relaxed);
    }

    /// Whether one turned long within [`LONG_MEMORY`].
    pub(crate) fn recent(&self) -> bool {
        self.recent_at(since_epoch_ms())
    }

    fn recent_at(&self, now: u64) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        last != 0 && now.saturating_sub(last) < LONG_MEMORY.as_millis() as u64
    }
}

/// The permits a call holds while its instance lives; dropping them frees
/// the slots.
pub(crate) struct Slot {
    _permits: [OwnedSemaphorePermit; 3],
}

/// The queues every call passes through.
pub(crate) struct Gates {
    shares: Shares,
    pool: Arc<Semaphore>,
    districts: Mutex<HashMap<String, District>>,
    lanes: Arc<Semaphore>,
}

/// One district's queues.
#[derive(Clone)]
struct District {
    slots: Arc<Semaphore>,
    /// The size of `slots`: the district's share of the pool.
    calls: u32,
    /// The district's long calls that may run at once.
    long: Arc<Semaphore>,
    /// The district's share of the database.
    database: Arc<Semaphore>,
    /// Refusals of its suspended apps held back at once (see
    /// [`Gates::hold_refusal`]).
    held: Arc<Semaphore>,
}

impl Gates {
    pub(crate) fn new(shares: Shares, max_instances: u32) -> Self {
        Gates {
            shares,
            pool: Arc::new(Semaphore::new(max_instances as usize)),
            districts: Mutex::new(HashMap::new()),
            lanes: Arc::new(Semaphore::new(shares.long_lanes.max(1) as usize)),
        }
    }

    /// A new install's queue, sized by its share.
    pub(crate) fn install_queue(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.shares.per_install.max(1) as usize))
    }

    fn district(&self, district: &str) -> District {
        let mut districts = self.districts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queues) = districts.get(district) {
            return queues.clone();
        }
        districts
            .entry(district.to_owned())
            .or_insert_with(|| District {
                slots: Arc::new(Semaphore::new(self.shares.per_district.max(1) as usize)),
                calls: self.shares.per_district.max(1),
                long: Arc::new(Semaphore::new(self.shares.long_per_district.max(1) as usize)),
                database: Arc::new(Semaphore::new(
                    self.shares.database_per_district.max(1) as usize
                )),
                held: Arc::new(Semaphore::new(self.shares.per_district.max(1) as usize)),
            })
            .clone()
    }

    /// Give `district` a share of `calls` (none: the default). Calls under
    /// way keep their slots; new ones queue for the new share.
    pub(crate) fn set_district_calls(&self, district: &str, calls: Option<u32>) {
        let calls = calls.unwrap_or(self.shares.per_district).max(1);
        let current = self.district(district);
        if current.calls == calls {
            return;
        }
        let mut districts = self.districts.lock().unwrap_or_else(|p| p.into_inner());
        districts.insert(
            district.to_owned(),
            District {
                slots: Arc::new(Semaphore::new(calls as usize)),
                calls,
                long: current.long,
                database: current.database,
                held: Arc::new(Semaphore::new(calls as usize)),
            },
        );
    }

    /// `district`'s share of the database, for its calls' stores.
    pub(crate) fn database(&self, district: &str) -> Arc<Semaphore> {
        self.district(district).database
    }

    /// Wait in line for a slot of `install` (whose queue is `install_queue`)
    /// in `district`, and of the pool; busy after [`Shares::max_wait`].
    pub(crate) async fn slot(
        &self,
        district: &str,
        install_queue: &Arc<Semaphore>,
    ) -> Result<Slot, CallError> {
        let queues = [
            install_queue.clone(),
            self.district(district).slots,
            self.pool.clone(),
        ];
        // Most calls find a free slot in every queue: they take it without
        // arming a timer. A queue with callers waiting has no free permit
        // (a permit given back goes to the first in line), so this never
        // passes anyone.
        if let [Ok(a), Ok(b), Ok(c)] = queues.each_ref().map(|q| q.clone().try_acquire_owned()) {
            return Ok(Slot {
                _permits: [a, b, c],
            });
        }
        let wait = async {
            let [a, b, c] = queues;
            let a = a.acquire_owned().await.ok()?;
            let b = b.acquire_owned().await.ok()?;
            let c = c.acquire_owned().await.ok()?;
            Some(Slot {
                _permits: [a, b, c],
            })
        };
        match tokio::time::timeout(self.shares.max_wait, wait).await {
            Ok(Some(slot)) => Ok(slot),
            _ => Err(CallError::Busy),
        }
    }

    /// Hold back the refusal of a request to a suspended app of `district`
    /// for `wait` (at most [`REFUSAL_HOLD`]), unless as many of the
    /// district's refusals as it has call slots are held already. A client
    /// that ignores the breaker and asks again at once then asks about once
    /// a second per connection, instead of keeping the host busy answering
    /// "suspended" thousands of times a second beside the other districts.
    pub(crate) async fn hold_refusal(&self, district: &str, wait: Duration) {
        let Ok(_held) = self.district(district).held.try_acquire_owned() else {
            return;
        };
        tokio::time::sleep(wait.min(REFUSAL_HOLD)).await;
    }

    /// The turn of a long call of `district`, for one tick: its district's
    /// one long-call permit and a lane. Hold it while the call runs guest
    /// code; drop it to let the next one run.
    pub(crate) fn long_turn(
        &self,
        district: &str,
    ) -> impl Future<Output = Option<[OwnedSemaphorePermit; 2]>> + Send + 'static {
        let own = self.district(district).long;
        let lanes = self.lanes.clone();
        async move {
            let own = own.acquire_owned().await.ok()?;
            let lane = lanes.acquire_owned().await.ok()?;
            Some([own, lane])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_install_and_a_district_hold_at_most_their_share() {
        let shares = Shares {
            per_install: 2,
            per_district: 3,
            max_wait: Duration::from_millis(20),
            long_lanes: 1,
            long_per_district: 1,
            database_per_district: 1,
        };
        let gates = Gates::new(shares, 4);
        let (a, b) = (gates.install_queue(), gates.install_queue());
        let mut held = vec![
            gates.slot("evil", &a).await.expect("first"),
            gates.slot("evil", &a).await.expect("second"),
        ];
        // The install's share is used up; its next call is busy.
        assert!(matches!(gates.slot("evil", &a).await, Err(CallError::Busy)));
        // Another install of the district gets the district's last slot.
        held.push(gates.slot("evil", &b).await.expect("district's third"));
        assert!(matches!(gates.slot("evil", &b).await, Err(CallError::Busy)));
        // Another district gets the pool's last slot; then the pool is full.
        let good = gates.install_queue();
        held.push(gates.slot("good", &good).await.expect("pool's fourth"));
        assert!(matches!(
            gates.slot("good", &good).await,
            Err(CallError::Busy)
        ));
        // A slot freed is the next caller's.
        held.pop();
        gates.slot("good", &good).await.expect("freed slot");
    }

    #[tokio::test]
    async fn refusals_are_held_back_up_to_the_districts_share() {
        let shares = Shares {
            per_district: 2,
            ..Shares::for_pool(8)
        };
        let gates = Arc::new(Gates::new(shares, 8));
        let wait = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let held: Vec<_> = (0..2)
            .map(|_| {
                let gates = gates.clone();
                tokio::spawn(async move { gates.hold_refusal("evil", wait).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Both of the district's holds are taken: the next is answered at once.
        let third = std::time::Instant::now();
        gates.hold_refusal("evil", wait).await;
        assert!(third.elapsed() < Duration::from_millis(100), "not held");
        // Another district's refusal is held on its own share.
        let other = std::time::Instant::now();
        gates.hold_refusal("good", Duration::from_millis(100)).await;
        assert!(other.elapsed() >= Duration::from_millis(100), "held");
        for hold in held {
            hold.await.expect("held refusal");
        }
        assert!(started.elapsed() >= wait, "held for the wait");
        // Never longer than REFUSAL_HOLD, whatever the wait asked.
        let long = std::time::Instant::now();
        tokio::time::timeout(
            REFUSAL_HOLD + Duration::from_millis(500),
            gates.hold_refusal("evil", Duration::from_secs(60)),
        )
        .await
        .expect("at most REFUSAL_HOLD");
        assert!(long.elapsed() >= REFUSAL_HOLD);
    }

    #[test]
    fn a_long_call_is_remembered_for_a_while() {
        let history = LongHistory::default();
        assert!(!history.recent(), "never");
        history.note();
        assert!(history.recent());
        let noted = history.last.load(Ordering::Relaxed);
        let memory = LONG_MEMORY.as_millis() as u64;
        assert!(history.recent_at(noted + memory - 1));
        assert!(
            !history.recent_at(noted + memory),
            "forgotten after LONG_MEMORY"
        );
    }

    #[tokio::test]
    async fn long_calls_take_turns_one_per_district() {
        let shares = Shares {
            long_lanes: 2,
            ..Shares::for_pool(8)
        };
        let gates = Gates::new(shares, 8);
        let first = gates.long_turn("evil").await.expect("turn");
        // The district's second long call waits for the first's turn to end.
        let second = gates.long_turn("evil");
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut second)
                .await
                .is_err()
        );
        // Another district's long call runs on the other lane.
        let other = gates.long_turn("good").await.expect("other district");
        drop(first);
        let second = second.await.expect("its turn");
        drop((other, second));
    }
}
