//! SIGINT and SIGTERM during `purge` and `defrag`: the first asks the run to stop (a flush in
//! progress is cut short, nothing new starts, the report is printed), a second exits at once.

use memdefrag::Stop;

/// The signal that interrupted the run, once one has.
pub(crate) struct Interrupts {
    #[cfg(unix)]
    received: std::sync::Arc<std::sync::atomic::AtomicI32>,
}

impl Interrupts {
    /// The exit code for the signal received (128 + its number), if one was.
    pub(crate) fn exit_code(&self) -> Option<i32> {
        #[cfg(unix)]
        {
            let signal = self.received.load(std::sync::atomic::Ordering::SeqCst);
            (signal != 0).then_some(128 + signal)
        }
        #[cfg(not(unix))]
        None
    }
}

/// Requests `stop` on the first SIGINT or SIGTERM; exits with 128 + the signal on the second.
#[cfg(unix)]
pub(crate) fn catch(stop: Stop) -> std::io::Result<Interrupts> {
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Arc;

    use signal_hook::consts::{SIGINT, SIGTERM};

    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let received = Arc::new(AtomicI32::new(0));
    let seen = Arc::clone(&received);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if seen.swap(signal, Ordering::SeqCst) != 0 {
                    std::process::exit(128 + signal);
                }
                stop.request();
            }
        })?;
    Ok(Interrupts { received })
}

/// Windows ends a console program on Ctrl+C as it always has.
#[cfg(not(unix))]
pub(crate) fn catch(_stop: Stop) -> std::io::Result<Interrupts> {
    Ok(Interrupts {})
}
