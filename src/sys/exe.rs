//! The running binary's identity, and turning entry-point offsets back into functions.
//!
//! A child started by spawn or the fork server finds the function to run by its offset from
//! [`anchor`]. That is only meaningful in the same binary, so the parent also sends the binary's
//! identity: the GNU build id when the linker wrote one, else the device, inode, size and
//! modification time of `/proc/self/exe`.

use std::sync::OnceLock;

/// The fixed point entry offsets are measured from.
#[inline(never)]
pub(crate) fn anchor() -> usize {
    anchor as fn() -> usize as usize
}

/// The type of every entry trampoline: runs the target found in `payload` and returns the
/// exit code.
pub(crate) type Entry = fn(&mut crate::process::bootstrap::ChildCtx) -> i32;

/// Function pointer types that may be sent to another process of the same binary as an
/// offset from [`anchor`]: process entries, service mains and plain `fn()` callbacks.
pub(crate) trait FnPtr: Copy {
    fn addr(self) -> usize;
    /// # Safety
    /// `addr` must be the address of a function of exactly this type.
    unsafe fn from_addr(addr: usize) -> Self;
}

macro_rules! fn_ptr {
    ($($t:ty),*) => { $(
        impl FnPtr for $t {
            fn addr(self) -> usize {
                self as usize
            }
            unsafe fn from_addr(addr: usize) -> Self {
                // SAFETY: per the contract, `addr` is a function of this type.
                unsafe { std::mem::transmute::<usize, $t>(addr) }
            }
        }
    )* };
}
fn_ptr!(Entry, crate::process::service::ServiceMain, fn());

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
pub(crate) fn conjure_fn<F: Fn(A) -> R, A, R>() -> F {
    const { assert!(std::mem::size_of::<F>() == 0, "a process target must be a fn item or a closure that captures nothing") };
    // SAFETY: `F` is zero-sized (checked above), so it has no bytes to initialise, and it is
    // inhabited: the parent process owned a value of this very type (Process::new took one).
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

/// Lower-case hex of `b` (binary identities in messages and environment variables).
pub(crate) fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The bytes of a [`to_hex`] string; `None` if it is not one.
pub(crate) fn from_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}
