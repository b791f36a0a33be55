//! `memdefrag wsl`: the VM's memory as Windows sees it, and what Linux says in each running
//! distribution.

use std::time::Duration;

use serde::Serialize;

use super::{
    checked, command_line, installed_path, linux, running, text, version_of, versions, LinuxMemory,
    VmProcess, WslError, WslHost, PROBE,
};
use crate::exit;

/// One running distribution and what Linux says inside it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistroStatus {
    /// Its name.
    pub name: String,
    /// 1 or 2 (`None` if `wsl.exe --list --verbose` did not say).
    pub version: Option<u8>,
    /// Whether memdefrag is installed inside (`None` when not asked: WSL 1, or a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memdefrag: Option<String>,
    /// The VM's memory as Linux inside sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<LinuxMemory>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `memdefrag wsl`: the VM as Windows sees it, and each running distribution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WslStatus {
    /// The VM's process (`None` when none runs).
    pub vm: Option<VmProcess>,
    /// The running distributions.
    pub distributions: Vec<DistroStatus>,
    /// Remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl WslStatus {
    /// 0, or 1 when a distribution's figures could not be read.
    pub fn exit_code(&self) -> i32 {
        if self.distributions.iter().any(|d| d.error.is_some()) {
            exit::FAILED
        } else {
            exit::OK
        }
    }
}

/// A parser of what Linux says.
type Parser = fn(&str) -> Result<LinuxMemory, linux::ParseError>;

/// What Linux says inside `name`: memdefrag's status if installed, else /proc/meminfo.
fn inside_status(host: &dyn WslHost, name: &str, timeout: Duration) -> DistroStatus {
    let mut status = DistroStatus {
        name: name.to_owned(),
        version: Some(2),
        memdefrag: None,
        memory: None,
        error: None,
    };
    let result = (|| -> Result<(Option<String>, LinuxMemory), WslError> {
        let probe = checked(host, &["-d", name, "-e", "sh", "-c", PROBE], timeout)?;
        let path = installed_path(text::lines(&text::decode(&probe.stdout)));
        let (args, parse): (Vec<&str>, Parser) = match &path {
            Some(path) => (
                vec!["-d", name, "-e", path, "status", "--json"],
                linux::parse_status,
            ),
            None => (
                vec!["-d", name, "-e", "cat", "/proc/meminfo"],
                linux::parse_meminfo,
            ),
        };
        let out = checked(host, &args, timeout)?;
        let memory = parse(&text::decode(&out.stdout)).map_err(|e| WslError::Failed {
            command: command_line(&args),
            code: out.code,
            message: e.0,
        })?;
        Ok((path, memory))
    })();
    match result {
        Ok((path, memory)) => {
            status.memdefrag = Some(path.unwrap_or_default());
            status.memory = Some(memory);
        }
        Err(e) => status.error = Some(e.to_string()),
    }
    status
}

/// `memdefrag wsl`: the VM's process and, for each running distribution, what Linux says.
/// Starts nothing.
pub fn status(host: &dyn WslHost, timeout: Duration) -> Result<WslStatus, WslError> {
    let vm = host.vm()?;
    let mut notes = Vec::new();
    let names = match running(host, timeout) {
        Ok(names) => names,
        Err(WslError::NotRunning(said)) if vm.is_some() => {
            notes.push(
                "no distribution is running: the VM stops after WSL's idle timeout \
                 (vmIdleTimeout in .wslconfig, 60 s by default)"
                    .to_owned(),
            );
            let _ = said;
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let listed = versions(host, timeout);
    let mut distributions = Vec::new();
    for name in &names {
        let version = version_of(&listed, name);
        if version == Some(1) {
            distributions.push(DistroStatus {
                name: name.clone(),
                version,
                memdefrag: None,
                memory: None,
                error: None,
            });
            continue;
        }
        let mut d = inside_status(host, name, timeout);
        d.version = version;
        distributions.push(d);
    }
    let wsl2 = distributions.iter().any(|d| d.version != Some(1));
    if vm.is_none() {
        if !wsl2 {
            return Err(WslError::Wsl1Only(names));
        }
        notes.push(
            "no VmmemWSL or vmmem process was found, though a WSL 2 distribution runs".to_owned(),
        );
    }
    if distributions.iter().any(|d| d.version == Some(1)) {
        notes.push("WSL 1 distributions run on Windows' own kernel, outside the VM".to_owned());
    }
    Ok(WslStatus {
        vm,
        distributions,
        notes,
    })
}
