//! The running binary: its identity, the binary children run, how a re-executed copy is told
//! what it is, and functions sent to another process of the same binary as offsets.
//!
//! A child started by spawn or the fork server finds the function to run by its offset from
//! [`anchor`]. That is only meaningful in the same binary, so the parent also sends the binary's
//! identity: the GNU build id when the linker wrote one, else the device, inode, size and
//! modification time of `/proc/self/exe`.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Environment variable that marks a re-executed copy of the binary as one of ours, with its
/// role: `spawn` (a child), `forkserver` or `service`.
pub(crate) const ENV_BOOT: &str = "MULTIPROC_BOOT";
/// Environment variable that tells a re-executed copy its parent's pid.
pub(crate) const ENV_PARENT: &str = "MULTIPROC_PARENT";

/// The binary children run when set (`set_executable`); null for `/proc/self/exe`.
///
/// A pointer rather than a mutex: reading it takes no lock, so a child made by `fork` while
/// another thread sets it can still read it, and nothing on the fork path writes to it.
/// Each `set_executable` leaks the previous path (a few bytes, set a handful of times).
static EXECUTABLE: AtomicPtr<PathBuf> = AtomicPtr::new(std::ptr::null_mut());

/// Sets the binary re-executed children run.
pub(crate) fn set_executable(path: PathBuf) {
    let new = Box::into_raw(Box::new(path));
    // The previous value is leaked on purpose: a reader in another thread may still hold it.
    EXECUTABLE.swap(new, Ordering::AcqRel);
}

/// The binary re-executed children run: the one set with [`set_executable`], else
/// `/proc/self/exe`.
pub(crate) fn executable() -> PathBuf {
    let p = EXECUTABLE.load(Ordering::Acquire);
    if p.is_null() {
        return PathBuf::from("/proc/self/exe");
    }
    // SAFETY: a non-null value came from `Box::into_raw` in `set_executable` and is never
    // freed, so it stays valid for the life of the process.
    unsafe { (*p).clone() }
}

/// `argv[0]` for re-executed copies: the parent's, so tools like `ps` show the program name.
fn argv0() -> OsString {
    std::env::args_os().next().unwrap_or_else(|| "multiproc-child".into())
}

/// Starts a copy of [`executable`] in role `mode` ([`ENV_BOOT`]), with `stdin` as its standard
/// input (the bootstrap descriptor) and `env` added to its environment.
pub(crate) fn reexec(mode: &str, stdin: OwnedFd, env: &[(&str, &str)]) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(executable());
    cmd.arg0(argv0()).env(ENV_BOOT, mode).stdin(Stdio::from(stdin));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
}
/// The fixed point entry offsets are measured from.
#[inline(never)]
pub(crate) fn anchor() -> usize {
    anchor as fn() -> usize as usize
}

/// Function pointer types that may be sent to another process of the same binary as an
/// offset from [`anchor`]: process entries and service mains (`fn(A) -> R`) and plain
/// callbacks (`fn() -> R`). Implemented for those shapes of fn
/// pointer, whatever their argument types, so that this ground floor names no type of the
/// layers above.
pub(crate) trait FnPtr: Copy {
    fn addr(self) -> usize;
    /// # Safety
    /// `addr` must be the address of a function of exactly this type.
    unsafe fn from_addr(addr: usize) -> Self;
}

macro_rules! fn_ptr {
    ($(<$($g:ident),*> $t:ty;)*) => { $(
        impl<$($g),*> FnPtr for $t {
            fn addr(self) -> usize {
                self as usize
            }
            unsafe fn from_addr(addr: usize) -> Self {
                // SAFETY: per the contract, `addr` is a function of this type; fn pointers
                // are the size of an address.
                unsafe { std::mem::transmute_copy::<usize, $t>(&addr) }
            }
        }
    )* };
}
fn_ptr! {
    <R> fn() -> R;
    <A, R> fn(A) -> R;
}

/// The offset of `f` from the anchor: meaningful in any process running this binary.
pub(crate) fn fn_offset<F: FnPtr>(f: F) -> isize {
    (f.addr() as isize).wrapping_sub(anchor() as isize)
}

/// Turns an offset made by [`fn_offset`] in another process back into the function, after
/// checking that `identity` (sent along by that process) names this very binary.
pub(crate) fn fn_at<F: FnPtr>(offset: isize, identity: &[u8]) -> std::io::Result<F> {
    if identity != self::identity() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a function came from a different binary; run the same executable in every process",
        ));
    }
    let addr = (anchor() as isize).wrapping_add(offset) as usize;
    // SAFETY: the binary identities match, so `addr` is the address in this process of the
    // `F` whose offset the sender computed with `fn_offset` in the same binary.
    Ok(unsafe { F::from_addr(addr) })
}

/// Makes the value of a zero-sized function type (a `fn` item or a closure without captures)
/// in a child, where the parent held a value of the same type.
///
/// Fails to compile for a type with a size (a capturing closure, a `fn` pointer): such a
/// target cannot be rebuilt from its type alone.
pub(crate) fn conjure_fn<F>() -> F {
    const { assert!(std::mem::size_of::<F>() == 0, "a process target must be a fn item or a closure that captures nothing") };
    // SAFETY: `F` is zero-sized (checked above), so it has no bytes to initialise, and it is
    // inhabited: the parent process owned a value of this very type (`Process::new` took one).
    unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() }
}

/// The identity of the running binary (computed once).
pub(crate) fn identity() -> &'static [u8] {
    static ID: OnceLock<Vec<u8>> = OnceLock::new();
    ID.get_or_init(|| build_id().map(|b| [b"gnu:".as_slice(), &b].concat()).unwrap_or_else(file_identity))
}

fn file_identity() -> Vec<u8> {
    match rustix::fs::stat("/proc/self/exe") {
        Ok(st) => {
            format!("file:{}:{}:{}:{}.{}", st.st_dev, st.st_ino, st.st_size, st.st_mtime, st.st_mtime_nsec).into_bytes()
        }
        Err(_) => b"unknown".to_vec(),
    }
}

/// Reads the `NT_GNU_BUILD_ID` note of the main executable from its loaded program headers.
fn build_id() -> Option<Vec<u8>> {
    struct Found(Option<Vec<u8>>);
    unsafe extern "C" fn callback(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info`; `data` is the `Found` passed below.
        let (info, found) = unsafe { (&*info, &mut *(data as *mut Found)) };
        // The first object reported is the main program.
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_NOTE {
                continue;
            }
            let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
            // SAFETY: a PT_NOTE segment is loaded and readable for `p_memsz` bytes.
            let notes = unsafe { std::slice::from_raw_parts(start as *const u8, ph.p_memsz as usize) };
            let mut off = 0usize;
            while off + 12 <= notes.len() {
                let word = |o: usize| u32::from_ne_bytes(notes[o..o + 4].try_into().expect("4 bytes")) as usize;
                let (namesz, descsz, ty) = (word(off), word(off + 4), word(off + 8));
                let name_start = off + 12;
                let desc_start = name_start + namesz.div_ceil(4) * 4;
                let next = desc_start + descsz.div_ceil(4) * 4;
                if next > notes.len() {
                    break;
                }
                if ty == 3 && namesz == 4 && &notes[name_start..name_start + 4] == b"GNU\0" {
                    found.0 = Some(notes[desc_start..desc_start + descsz].to_vec());
                    return 1;
                }
                off = next;
            }
        }
        1 // stop after the main program either way
    }
    let mut found = Found(None);
    // SAFETY: the callback only reads loader-provided memory and writes into `found`.
    unsafe {
        libc::dl_iterate_phdr(Some(callback), &mut found as *mut Found as *mut libc::c_void);
    }
    found.0
}
