//! The impact of a method on everything else running: a latency probe, and a victim process
//! with a resident working set.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::percentile;

/// A thread that sleeps 1 ms in a loop and records how much longer each sleep took.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<f64>>,
}

/// Oversleep of the probe during a method, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Probe {
    pub fn start() -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let tick = Duration::from_millis(1);
            let mut over = Vec::with_capacity(1 << 16);
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                std::thread::sleep(tick);
                over.push((t.elapsed().saturating_sub(tick)).as_secs_f64() * 1000.0);
            }
            over
        });
        Probe { stop, thread }
    }

    pub fn stop(self) -> Latency {
        self.stop.store(true, Ordering::Relaxed);
        let over = self.thread.join().expect("probe thread");
        Latency {
            p50_ms: percentile(&over, 50.0),
            p99_ms: percentile(&over, 99.0),
            max_ms: over.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// A process that keeps touching its working set (a mapped file, or anonymous memory) while a
/// method runs.
pub struct Victim {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Keeps touching its working set while a method runs; an idle victim only touches it
    /// before (like a program in the background) and once after.
    busy: bool,
}

impl Victim {
    /// Starts the victim over `working_set` (this benchmark binary in its victim role).
    pub fn start(working_set: &Path) -> Victim {
        Victim::spawn(&["--victim".as_ref(), working_set.as_os_str()], true)
    }

    /// Starts a victim whose working set is `bytes` of anonymous memory, which only swap can
    /// take from it; `busy` says whether it keeps touching it while a method runs.
    pub fn start_anonymous(bytes: u64, busy: bool) -> Victim {
        Victim::spawn(
            &["--anon-victim".as_ref(), bytes.to_string().as_ref()],
            busy,
        )
    }

    fn spawn(args: &[&std::ffi::OsStr], busy: bool) -> Victim {
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn victim");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut victim = Victim {
            child,
            stdin,
            stdout,
            busy,
        };
        victim.ask("touch");
        victim
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("victim stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("victim stdout");
        assert!(!line.is_empty(), "the victim exited");
        line.trim().to_owned()
    }

    /// Makes the whole working set resident again and, if the victim is busy, keeps touching it
    /// in the background.
    pub fn warm(&mut self) {
        self.ask("touch");
        if self.busy {
            self.ask("run");
        }
    }

    /// Stops the background touching; then times one full pass over the working set.
    pub fn retouch_ms(&mut self) -> f64 {
        self.stop_and_retouch().1
    }

    /// Stops the background touching, and returns the slowest background pass since
    /// [`Victim::warm`] (pages taken from it while it kept touching are paid for there) and the
    /// time of one full pass afterwards, both in ms.
    pub fn stop_and_retouch(&mut self) -> (f64, f64) {
        let slowest = self.ask("pause").parse::<f64>().expect("slowest pass");
        let retouch = self.ask("touch").parse::<f64>().expect("touch time");
        (slowest, retouch)
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The victim role: map `path`, then obey "touch" (one timed pass; prints ms), "run" (keep
/// touching in the background), "pause" (stop; prints the slowest background pass since "run",
/// in ms), until stdin closes.
pub fn victim_main(path: &Path) {
    let file = std::fs::File::open(path).expect("open working set");
    let len = file.metadata().expect("metadata").len() as usize;
    // Kept for the life of the process.
    let addr = crate::files::map_read_only(&file, len);
    serve(addr as usize, len);
}

/// The anonymous victim role: `bytes` of anonymous memory, each page written once (so that it
/// exists and only swap can take it), then the same commands as [`victim_main`].
pub fn anon_victim_main(bytes: usize) {
    // Kept for the life of the process.
    let addr = crate::helpers::map_anonymous(bytes);
    crate::helpers::touch_every_page(addr, bytes);
    serve(addr as usize, bytes);
}

/// Obeys the victim commands over the `len` bytes mapped at `base`, until stdin closes.
fn serve(base: usize, len: usize) {
    let touch = move || {
        let mut sum = 0u8;
        for off in (0..len).step_by(crate::sys::page()) {
            // SAFETY: `off` is inside the mapping, which lives as long as the process.
            sum = sum.wrapping_add(unsafe { std::ptr::read_volatile((base + off) as *const u8) });
        }
        sum
    };
    // Whether to keep touching, and the slowest background pass (s) since "run"; a pass holds
    // the lock, so "pause" returns once none runs.
    let running = Arc::new(Mutex::new((false, 0.0f64)));
    {
        let running = Arc::clone(&running);
        std::thread::spawn(move || loop {
            {
                let mut state = running.lock().expect("lock");
                if state.0 {
                    let t = Instant::now();
                    std::hint::black_box(touch());
                    state.1 = state.1.max(t.elapsed().as_secs_f64());
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        });
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        let reply = match line.trim() {
            "touch" => {
                let t = Instant::now();
                std::hint::black_box(touch());
                format!("{:.3}", t.elapsed().as_secs_f64() * 1000.0)
            }
            "run" => {
                *running.lock().expect("lock") = (true, 0.0);
                "ok".into()
            }
            "pause" => {
                let mut state = running.lock().expect("lock");
                state.0 = false;
                format!("{:.3}", state.1 * 1000.0)
            }
            other => format!("unknown {other}"),
        };
        writeln!(out, "{reply}").expect("stdout");
        out.flush().expect("flush");
    }
}
