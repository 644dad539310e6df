//! `ForkServer`: a single-threaded server process, spawned once, that keeps one child forked
//! ahead of need (the spare); a request goes straight to the spare.
//!
//! ```text
//! client (any thread)                 fork server                  spare (forked in advance)
//! -------------------                 -----------                  -----
//!                                     fork() the spare -------->   recvmsg(control) ...
//! socketpair(boot_parent, boot_child)
//! pipe(status_r, status_w)
//! sendmsg(control, "F", [boot_child, status_w]) ------------------> takes the request
//! send_framed(boot_parent, BootMsg)   <- notice(pid, status_w) --
//! start() returns                                                   "P"+pid -> status_w
//!                                     fork() the next spare         run_child(boot_child)
//! join(): poll boot_parent  <-------------------------------------- Report::Exit(code), _exit
//!         (end of file if a signal killed it)
//!                                     SIGCHLD -> waitpid -> "S"+status -> status_w, close
//! the code: the child's own report, or "S"+status when the child said nothing
//! ```
//!
//! The fork is off the critical path: it happens while the previous child runs or while the
//! client does something else, and a start costs one wake-up of the spare. `start` does not
//! wait for the pid, and `join` wakes once per child, when it leaves; it waits for the
//! server's status only when the child died without a word (a signal).
//!
//! The server dies with the process that started it (`PR_SET_PDEATHSIG`); the spare and the
//! children die with the server. A spare that finds the control socket closed leaves, and so
//! does the server then. If the server is found dead, the next start launches a new one.
//! Control messages are `SOCK_SEQPACKET`, so requests from several threads never interleave;
//! the server ignores SIGINT, as Python's does, and its children get the client's SIGINT and
//! SIGCHLD dispositions back (ignored stays ignored, as under the other start methods).

pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod server;
pub(crate) mod status;
pub(crate) mod wire;
