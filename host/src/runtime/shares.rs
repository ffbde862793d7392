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
//! **Database.** A district's calls hold at most
//! [`Shares::database_per_district`] database connections at once for the
//! operations an app can repeat in bulk (kv reads and writes), waiting in
//! line for a turn within their own deadline. The store has 8 connections
//! on SQLite and 16 on PostgreSQL, so a district flooding its kv leaves the
//! rest to the others, and on SQLite at most that many writes stand
//! between another district's write and the write lock.
//!
//! **Priority.** A call that turns long moves, at its next turn, from the
//! host's threads to the long-call lanes: [`Shares::long_lanes`] threads of
//! their own, running at a lower scheduling priority (nice 10 on Linux).
//! The host's threads then never run a spinning app's code, and when the
//! cores are contended the operating system runs short calls, the
//! database and the network first; on an idle host long calls still get
//! the whole core.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

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
    /// Whether long calls move to lanes of their own at a lower priority.
    pub long_apart: bool,
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
            long_apart: true,
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
            long_apart: false,
            database_per_district: max_instances,
        }
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
    /// The threads long calls move to; none when [`Shares::long_apart`] is
    /// off.
    apart: Option<Apart>,
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
}

impl Gates {
    /// The gates for `shares` of a pool of `max_instances`; fails only if
    /// the long-call lanes' threads cannot be started.
    pub(crate) fn new(shares: Shares, max_instances: u32) -> std::io::Result<Self> {
        let apart = match shares.long_apart {
            true => Some(Apart::start(shares.long_lanes)?),
            false => None,
        };
        Ok(Gates {
            shares,
            pool: Arc::new(Semaphore::new(max_instances as usize)),
            districts: Mutex::new(HashMap::new()),
            lanes: Arc::new(Semaphore::new(shares.long_lanes.max(1) as usize)),
            apart,
        })
    }

    /// Run `call`, which sets `long` once it has turned long: on the
    /// caller's thread while it is short, then on the long-call lanes. The
    /// answer is `None` only if the lanes were shut down under it.
    pub(crate) fn run<F>(&self, call: F, long: Arc<AtomicBool>) -> Moving<F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Moving {
            state: State::Here(Box::pin(call)),
            long,
            lanes: self.apart.as_ref().map(|apart| apart.handle.clone()),
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

/// The long-call lanes: a runtime of their own whose threads run at a
/// lower priority than the host's.
struct Apart {
    /// `None` once shut down.
    runtime: Option<tokio::runtime::Runtime>,
    handle: Handle,
}

/// How much lower than the host's threads the lanes run: nice 10 gets
/// about a tenth of a contended core beside a thread at the default.
#[cfg(target_os = "linux")]
const LANE_NICENESS: libc::c_int = 10;

impl Apart {
    fn start(threads: u32) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1) as usize)
            .thread_name("hutong-long")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Apart {
            runtime: Some(runtime),
            handle,
        })
    }
}

impl Drop for Apart {
    fn drop(&mut self) {
        // Not waiting: the last holder may be a task of these very lanes,
        // or the host's own runtime, where blocking is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lower the calling thread's scheduling priority (a lane's, when it
/// starts). Where threads have no priority of their own, lanes run at the
/// host's.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` and `setpriority` take plain integers and touch
        // only the calling thread's scheduling attributes.
        let result = unsafe {
            let thread = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, LANE_NICENESS)
        };
        if result != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "could not lower a long-call lane's priority; long calls run at the host's"
            );
        }
    }
}

/// A call that runs where the host polls it until it turns long, then on
/// the long-call lanes (see the module's documentation). Dropping it ends
/// the call wherever it runs.
pub(crate) struct Moving<F: Future> {
    state: State<F>,
    long: Arc<AtomicBool>,
    lanes: Option<Handle>,
}

enum State<F: Future> {
    Here(Pin<Box<F>>),
    Moved(JoinHandle<F::Output>),
    Gone,
}

impl<F> Future for Moving<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let State::Here(call) = &mut this.state {
            if let Poll::Ready(answer) = call.as_mut().poll(cx) {
                this.state = State::Gone;
                return Poll::Ready(Some(answer));
            }
            let Some(lanes) = this
                .lanes
                .as_ref()
                .filter(|_| this.long.load(Ordering::Relaxed))
            else {
                return Poll::Pending;
            };
            let State::Here(call) = std::mem::replace(&mut this.state, State::Gone) else {
                unreachable!("the call is here: matched above");
            };
            this.state = State::Moved(lanes.spawn(call));
        }
        let State::Moved(task) = &mut this.state else {
            return Poll::Ready(None);
        };
        let answer = ready!(Pin::new(task).poll(cx));
        this.state = State::Gone;
        match answer {
            Ok(answer) => Poll::Ready(Some(answer)),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_cancelled) => Poll::Ready(None),
        }
    }
}

impl<F: Future> Drop for Moving<F> {
    fn drop(&mut self) {
        if let State::Moved(task) = &self.state {
            task.abort();
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
            long_apart: false,
            database_per_district: 1,
        };
        let gates = Gates::new(shares, 4).expect("gates");
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

    /// The calling thread's name and scheduling priority.
    fn thread() -> (String, i32) {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        #[cfg(target_os = "linux")]
        // SAFETY: as in `lower_priority`; reads the calling thread's only.
        let priority = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as _) };
        #[cfg(not(target_os = "linux"))]
        let priority = 0;
        (name, priority)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_moves_to_the_lanes_once_long_and_not_before() {
        let gates = Gates::new(Shares::for_pool(8), 8).expect("gates");
        let long = Arc::new(AtomicBool::new(false));
        let turned = long.clone();
        let (short, after) = gates
            .run(
                async move {
                    let short = thread();
                    tokio::task::yield_now().await;
                    let still_short = thread();
                    turned.store(true, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                    assert_eq!(short.0, still_short.0, "a short call stays");
                    (short, thread())
                },
                long,
            )
            .await
            .expect("the call ran");
        assert_ne!(short.0, "hutong-long");
        assert_eq!(after.0, "hutong-long");
        #[cfg(target_os = "linux")]
        assert_eq!(
            after.1,
            short.1 + LANE_NICENESS,
            "lanes run at a lower priority"
        );
    }

    #[tokio::test]
    async fn without_lanes_a_long_call_stays() {
        let gates = Gates::new(Shares::unlimited(8), 8).expect("gates");
        let long = Arc::new(AtomicBool::new(true));
        let name = gates
            .run(
                async {
                    tokio::task::yield_now().await;
                    thread().0
                },
                long,
            )
            .await
            .expect("the call ran");
        assert_ne!(name, "hutong-long");
    }

    #[tokio::test]
    async fn long_calls_take_turns_one_per_district() {
        let shares = Shares {
            long_lanes: 2,
            ..Shares::for_pool(8)
        };
        let gates = Gates::new(shares, 8).expect("gates");
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
