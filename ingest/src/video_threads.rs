//! The threads that carry live video.
//!
//! Every frame of every camera costs a wake-up: the kernel flags the camera's socket, a thread
//! leaves `epoll_wait`, reads the frame, hands it to the viewers' sockets and sleeps again. At
//! 25 fps that is 5,000 wake-ups a second for 200 cameras, and switching a thread in and out
//! costs more than the video work itself (a profile of the hub relaying 50 cameras spent a
//! quarter of its CPU in `finish_task_switch`, one wake-up per frame).
//!
//! So camera sessions, and the connections of their viewers, run on threads of their own, each
//! a tokio runtime with one worker that, before it goes to sleep, lets events gather until
//! `wake_batch` has passed since it last woke: one wake-up then serves every camera whose
//! frames came meanwhile, and their viewers' sends go out together. The price is at most
//! `wake_batch` of added delay per frame (5 ms by default, an eighth of a frame interval at
//! 25 fps; the first event after a quiet spell is served at once); `wake_batch = 0` wakes for
//! every event as a plain runtime does. Streaming servers make the same trade (ZLMediaKit's
//! `mergeWriteMS`). A camera's viewers on its own thread also means that handing them a frame
//! wakes no other thread.
//!
//! The runtime is tokio's multi-thread one with a single worker, not its current-thread one,
//! for one property: a task woken by the task that is running goes into a "next" slot and runs
//! right after it. So a viewer woken by its camera's frame sends it at once, instead of after
//! every other camera woken in the same batch (measured at 200 cameras, 5 ms batch: frame
//! arrival to send p99 2.8 ms, against 1 s with the current-thread runtime).
//!
//! The HTTP server, the database and everything else stay on the main runtime; a slow disk
//! or a burst of API calls does not delay video, nor video them.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Handle, Runtime};

thread_local! {
    /// When this video thread last woke up (left `epoll_wait`).
    static WOKE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// One video thread: a runtime with one worker thread.
struct VideoThread {
    handle: Handle,
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl Drop for VideoThread {
    /// Ends the thread, and with it every task on it: sessions close, viewers end. Without
    /// waiting, so that it may happen inside another runtime (a hub shutting down).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A fixed set of video threads; dropping it stops them.
pub(crate) struct VideoThreads {
    threads: Vec<VideoThread>,
    next: AtomicUsize,
}

impl std::fmt::Debug for VideoThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoThreads")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl VideoThreads {
    /// Starts `count` threads (at least one) named `video-0`, `video-1`, ….
    pub(crate) fn start(count: usize, wake_batch: Duration) -> io::Result<Self> {
        let threads = (0..count.max(1))
            .map(|i| start_thread(i, wake_batch))
            .collect::<io::Result<_>>()?;
        Ok(Self {
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// The thread for a new camera, in turn: cameras are long-lived and cost about the same,
    /// so turns spread them evenly.
    pub(crate) fn next(&self) -> Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        self.threads[i].handle.clone()
    }
}

fn start_thread(index: usize, wake_batch: Duration) -> io::Result<VideoThread> {
    // Sockets and timers only: video threads start no processes and catch no signals.
    let runtime = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(format!("video-{index}"))
        .enable_io()
        .enable_time()
        .on_thread_unpark(|| WOKE.set(Some(Instant::now())))
        .on_thread_park(move || gather(wake_batch))
        .build()?;
    Ok(VideoThread {
        handle: runtime.handle().clone(),
        runtime: Some(runtime),
    })
}

/// Called as the thread is about to wait for events: if it woke less than `wake_batch` ago,
/// it lets events gather in the kernel for the rest of that time, so that the wait returns
/// them all at once instead of one wake-up each.
fn gather(wake_batch: Duration) {
    if wake_batch.is_zero() {
        return;
    }
    if let Some(woke) = WOKE.get() {
        let awake = woke.elapsed();
        if awake < wake_batch {
            std::thread::sleep(wake_batch - awake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The name of the thread a task spawned on `handle` runs on.
    fn thread_of(handle: &Handle) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = tx.send(std::thread::current().name().unwrap_or("").to_string());
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn cameras_take_the_threads_in_turn() {
        let threads = VideoThreads::start(2, Duration::ZERO).unwrap();
        let names: Vec<String> = (0..3).map(|_| thread_of(&threads.next())).collect();
        assert_eq!(names, ["video-0", "video-1", "video-0"]);
    }

    #[test]
    fn tasks_run_and_events_are_gathered() {
        let batch = Duration::from_millis(20);
        let threads = VideoThreads::start(1, batch).unwrap();
        let handle = threads.next();
        // Let the thread start and go idle: what follows then wakes it.
        thread_of(&handle);
        std::thread::sleep(batch * 2);
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            // Ten timers 1 ms apart, the first 1 ms after the thread woke up for this task: it
            // goes to sleep until the batch is over, and then every timer is due at once.
            let start = tokio::time::Instant::now();
            let mut fired_at = Vec::new();
            for i in 1..=10u64 {
                tokio::time::sleep_until(start + Duration::from_millis(i)).await;
                fired_at.push(start.elapsed());
            }
            tx.send(fired_at).unwrap();
        });
        let fired_at = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            fired_at[0] >= batch - Duration::from_millis(2),
            "the first timer waited for the batch: {fired_at:?}"
        );
    }

    #[test]
    fn a_viewer_woken_by_its_camera_runs_right_after_it() {
        let threads = VideoThreads::start(1, Duration::ZERO).unwrap();
        let handle = threads.next();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        // Three "cameras" whose frames come in the same wake-up (timers due at the same
        // instant stand for sockets that became readable together), each handing its frame
        // to its "viewer".
        let at = tokio::time::Instant::now() + Duration::from_millis(30);
        for n in 0..3 {
            let (view_tx, mut view_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let camera_log = log.clone();
            handle.spawn(async move {
                tokio::time::sleep_until(at).await;
                camera_log.lock().unwrap().push(format!("camera {n}"));
                let _ = view_tx.send(());
            });
            let viewer_log = log.clone();
            handle.spawn(async move {
                if view_rx.recv().await.is_some() {
                    viewer_log.lock().unwrap().push(format!("viewer {n}"));
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.lock().unwrap().len() < 6 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), 6, "{log:?}");
        for pair in log.chunks(2) {
            let camera = pair[0].strip_prefix("camera ");
            assert!(camera.is_some(), "{log:?}");
            assert_eq!(pair[1].strip_prefix("viewer "), camera, "{log:?}");
        }
    }

    #[test]
    fn dropping_stops_the_threads_and_their_tasks() {
        let threads = VideoThreads::start(1, Duration::from_millis(1)).unwrap();
        let handle = threads.next();
        let alive = Arc::new(());
        let held = alive.clone();
        handle.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        drop(threads);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&alive) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(Arc::strong_count(&alive), 1, "the task was dropped");
    }
}
