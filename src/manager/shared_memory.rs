//! [`SharedMemoryManager`]: a manager whose server creates named shared-memory segments and
//! shareable lists, owns them, and unlinks them when it shuts down (Python's
//! `multiprocessing.managers.SharedMemoryManager`).

use super::base::BaseProxy;
use super::error::{ManagerError, ManagerErrorKind as K};
use super::front::{Manager, ManagerBuilder};
use super::protocol::method;
use crate::{Item, ShareableList, SharedMemory};

/// A manager that creates shared memory for its clients and unlinks it when it shuts down
/// (`SharedMemoryManager`): segments outlive the processes that use them, but not the
/// manager.
///
/// It dereferences to a [`Manager`], so it makes the other managed objects too.
///
/// # Examples
/// ```no_run
/// use multiproc::manager::SharedMemoryManager;
/// let smm = SharedMemoryManager::start()?;
/// let shm = smm.shared_memory(4096)?;
/// shm.write_at(0, b"hello")?;
/// let name = shm.name().unwrap().to_string();
/// let list = smm.shareable_list([1i64, 2, 3])?;
/// assert_eq!(list.len(), 3);
/// smm.shutdown()?; // both are unlinked
/// assert!(multiproc::SharedMemory::open(&name).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SharedMemoryManager {
    manager: Manager,
    segments: BaseProxy,
}

impl SharedMemoryManager {
    /// Starts a shared-memory manager with the defaults.
    ///
    /// # Errors
    /// As [`Manager::start`].
    ///
    /// # Examples
    /// ```no_run
    /// let smm = multiproc::manager::SharedMemoryManager::start()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn start() -> Result<SharedMemoryManager, ManagerError> {
        SharedMemoryManager::with(Manager::builder())
    }

    /// Starts a shared-memory manager configured by `builder` (an address, an authkey, ...).
    ///
    /// # Errors
    /// As [`ManagerBuilder::start`].
    ///
    /// # Examples
    /// ```no_run
    /// use multiproc::manager::{Manager, SharedMemoryManager};
    /// let smm = SharedMemoryManager::with(Manager::builder().authkey(b"k"))?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn with(builder: ManagerBuilder) -> Result<SharedMemoryManager, ManagerError> {
        let manager = builder.start()?;
        let segments = manager.create_raw(
            super::protocol::TypeKey::Builtin(super::protocol::builtin::SEGMENTS),
            crate::codec::encode(&())?,
        )?;
        Ok(SharedMemoryManager { manager, segments })
    }

    /// A new named segment of `size` bytes, created and owned by the server (Python:
    /// `smm.SharedMemory(size)`); this handle attaches to it. Other processes open it by
    /// name until the manager shuts down.
    ///
    /// # Errors
    /// `ValueError` with the OS's reason when the server cannot create it.
    ///
    /// # Examples
    /// ```no_run
    /// let smm = multiproc::manager::SharedMemoryManager::start()?;
    /// let shm = smm.shared_memory(1 << 20)?;
    /// assert!(!shm.is_owner());
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn shared_memory(&self, size: usize) -> Result<SharedMemory, ManagerError> {
        let name: String = self.segments.call(method::segments::CREATE_SEGMENT, &(size as u64))?;
        SharedMemory::open(&name).map_err(|e| {
            ManagerError::with_source(K::ValueError, format!("could not open the manager's segment {name:?}: {e}"), e)
        })
    }

    /// A new shareable list holding `items`, created and owned by the server (Python:
    /// `smm.ShareableList(sequence)`).
    ///
    /// # Errors
    /// `ValueError` with the reason when the server cannot create it.
    ///
    /// # Examples
    /// ```no_run
    /// let smm = multiproc::manager::SharedMemoryManager::start()?;
    /// let l = smm.shareable_list(["a", "b"])?;
    /// assert_eq!(l.len(), 2);
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn shareable_list<I: Into<Item>>(
        &self,
        items: impl IntoIterator<Item = I>,
    ) -> Result<ShareableList, ManagerError> {
        let items: Vec<Item> = items.into_iter().map(Into::into).collect();
        let name: String = self.segments.call(method::segments::CREATE_LIST, &items)?;
        ShareableList::open(&name).map_err(|e| {
            ManagerError::with_source(K::ValueError, format!("could not open the manager's list {name:?}: {e}"), e)
        })
    }

    /// Stops the server, which unlinks every segment and list it created.
    ///
    /// # Errors
    /// As [`Manager::shutdown`].
    ///
    /// # Examples
    /// ```no_run
    /// multiproc::manager::SharedMemoryManager::start()?.shutdown()?;
    /// # Ok::<(), multiproc::manager::ManagerError>(())
    /// ```
    pub fn shutdown(&self) -> Result<(), ManagerError> {
        self.manager.shutdown()
    }
}

impl std::ops::Deref for SharedMemoryManager {
    type Target = Manager;
    fn deref(&self) -> &Manager {
        &self.manager
    }
}
