//! One file per start method.
//!
//! - `spawn.rs`: re-execute `/proc/self/exe` with the bootstrap socket as stdin.
//! - `forkserver/`: the fork server (a spawned single-threaded process) and its client.
//! - `fork.rs`: `fork()` in the calling process.

pub(crate) mod fork;
pub(crate) mod forkserver;
pub(crate) mod spawn;

use super::child::ChildHandle;
use super::method::StartMethod;
use super::records::{BootMsg, ChildInfo};
use super::target::Work;
use crate::error::{ProcessError, ProcessErrorKind};
use crate::sys;

/// Starts a child by `method`.
pub(crate) fn launch(method: StartMethod, info: ChildInfo, target: Work) -> Result<ChildHandle, ProcessError> {
    match method {
        StartMethod::Fork => fork::launch(info, target),
        StartMethod::Spawn => spawn::launch(encode(info, target)?),
        StartMethod::ForkServer => forkserver::client::launch(encode(info, target)?),
    }
}

/// The bootstrap message and descriptors for spawn and the fork server.
pub(crate) struct Encoded {
    pub(crate) body: Vec<u8>,
    pub(crate) fds: Vec<std::os::fd::OwnedFd>,
}

fn encode(info: ChildInfo, target: Work) -> Result<Encoded, ProcessError> {
    let Work::Portable(p) = target else {
        return Err(ProcessError::new(
            ProcessErrorKind::ClosureNeedsFork,
            "a capturing closure can only run in a child made by fork",
        ));
    };
    let (payload, fds) = p.encode().map_err(|e| {
        ProcessError::new(ProcessErrorKind::Encode, format!("cannot send the process arguments: {e}")).with_source(e)
    })?;
    if fds.len() > sys::socket::MAX_FDS_PER_MSG {
        return Err(ProcessError::new(
            ProcessErrorKind::Encode,
            format!(
                "the arguments carry {} handles; at most {} can go to a child",
                fds.len(),
                sys::socket::MAX_FDS_PER_MSG
            ),
        ));
    }
    let msg = BootMsg { exe_id: sys::exe::identity().to_vec(), entry: sys::exe::fn_offset(p.entry()), info, payload };
    let body = crate::codec::encode(&msg).map_err(|e| {
        ProcessError::new(ProcessErrorKind::Encode, format!("cannot encode the bootstrap message: {e}"))
    })?;
    Ok(Encoded { body, fds })
}
