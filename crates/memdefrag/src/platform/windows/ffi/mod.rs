//! The NT and Win32 calls of the Windows backend: all of its `unsafe` code, one module per
//! subsystem.
//!
//! - `nt`: `NtQuerySystemInformation` / `NtSetSystemInformation`, their classes and structures;
//! - `token`: the process token's privileges and elevation;
//! - `volumes`: flushing every volume's buffers;
//! - `processes`: the running processes, and emptying one's working set;
//! - `sysprocs`: the system's process list with each process's memory figures;
//! - `info`: the documented figures and facts (WOW64, GlobalMemoryStatusEx, GetPerformanceInfo);
//! - `console`: the console control handler;
//! - `text`: UTF-16 strings and the system's error messages.
//!
//! [`System`] puts them together behind the [`NtApi`] seam.

mod console;
mod info;
mod nt;
mod processes;
mod sysprocs;
mod text;
mod token;
mod volumes;

pub(crate) use console::on_console_close;

use super::api::{
    DocumentedMemory, MemoryListPages, NtApi, NtStatus, Privilege, PrivilegeError, PrivilegeState,
    ProcessEntry, SetRequest, TrimError, VolumeFlush,
};

/// Every process with its memory figures, from the system's process list.
pub(crate) fn process_memory() -> Result<Vec<super::api::ProcessMemory>, (u32, String)> {
    sysprocs::list().map_err(nt::status_message)
}

/// The real NT and Win32 calls.
pub(crate) struct System;

impl NtApi for System {
    fn is_wow64(&self) -> bool {
        info::is_wow64()
    }
    fn is_elevated(&self) -> bool {
        token::is_elevated()
    }
    fn enable_privileges(
        &self,
        privileges: &[Privilege],
    ) -> Result<PrivilegeState, PrivilegeError> {
        token::enable_privileges(privileges)
    }
    fn restore_privileges(&self, state: &PrivilegeState) {
        token::restore_privileges(state);
    }
    fn set_information(&self, request: SetRequest) -> Result<u64, NtStatus> {
        nt::set_information(request)
    }
    fn status_message(&self, status: NtStatus) -> (u32, String) {
        nt::status_message(status)
    }
    fn memory_lists(&self) -> Result<MemoryListPages, NtStatus> {
        nt::memory_lists()
    }
    fn page_size(&self) -> Result<u64, NtStatus> {
        nt::page_size()
    }
    fn file_cache_size(&self) -> Result<u64, NtStatus> {
        nt::file_cache_size()
    }
    fn documented_memory(&self) -> Result<DocumentedMemory, (u32, String)> {
        info::documented_memory()
    }
    fn flush_volumes(&self) -> Result<Vec<VolumeFlush>, (u32, String)> {
        volumes::flush_all()
    }
    fn processes(&self) -> Result<Vec<ProcessEntry>, (u32, String)> {
        processes::list()
    }
    fn cpu_times(&self) -> Result<crate::backend::CpuTimes, (u32, String)> {
        info::cpu_times()
    }
    fn empty_working_set(&self, pid: u32) -> Result<(u64, u64), TrimError> {
        processes::empty_working_set(pid)
    }
}

#[cfg(test)]
mod tests;
