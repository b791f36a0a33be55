//! What the service does with each control the service control manager sends.
//!
//! Stop, shutdown and pre-shutdown end the watch after the operation in progress; the status
//! query is answered; nothing else stops it: a user's log-off, a session change or a console
//! event is not a reason to stop watching memory.

/// A service control, as far as the service tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// SERVICE_CONTROL_STOP: an administrator or `memdefrag service stop`.
    Stop,
    /// SERVICE_CONTROL_SHUTDOWN: the system is shutting down.
    Shutdown,
    /// SERVICE_CONTROL_PRESHUTDOWN: the system is about to shut down.
    Preshutdown,
    /// SERVICE_CONTROL_INTERROGATE: report the current status.
    Interrogate,
    /// Any other control (session change, power event, …).
    Other,
}

/// What to do about a control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Stop after the operation in progress, for this reason (as logged).
    Stop(&'static str),
    /// Report the status; change nothing.
    Answer,
    /// Not handled (the SCM is told so); change nothing.
    Ignore,
}

/// The response to `control`.
pub fn respond(control: Control) -> Response {
    match control {
        Control::Stop => Response::Stop("stop"),
        Control::Shutdown => Response::Stop("shutdown"),
        Control::Preshutdown => Response::Stop("preshutdown"),
        Control::Interrogate => Response::Answer,
        Control::Other => Response::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stop_and_shutdown_stop_the_service() {
        assert_eq!(respond(Control::Stop), Response::Stop("stop"));
        assert_eq!(respond(Control::Shutdown), Response::Stop("shutdown"));
        assert_eq!(respond(Control::Preshutdown), Response::Stop("preshutdown"));
        assert_eq!(respond(Control::Interrogate), Response::Answer);
        assert_eq!(respond(Control::Other), Response::Ignore);
    }
}
