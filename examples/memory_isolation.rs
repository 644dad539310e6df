//! Every process has its own memory: a global list filled by a child stays empty in the
//! parent. Python's
//!
//! ```python
//! result = []
//! def square_list(mylist):
//!     global result
//!     for num in mylist:
//!         result.append(num * num)
//!     print("Result(in process p1): {}".format(result))
//! ```
//!
//! and then the same with shared memory, where the parent does see the child's writes.
//!
//! Run with `cargo run --example memory_isolation`.

use std::sync::Mutex;

use multiproc::{Process, RawArray, StartMethod, get_context};

/// The "global list": one per process.
static RESULT: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn square_list(mylist: Vec<i32>) {
    let mut result = RESULT.lock().unwrap();
    for num in mylist {
        result.push(num * num);
    }
    println!("Result(in process p1): {:?}", *result);
}

fn square_into_shared((mylist, out): (Vec<i32>, RawArray<i32>)) {
    for (i, num) in mylist.iter().enumerate() {
        out.set(i, num * num);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mylist = vec![1, 2, 3, 4];

    // Under every start method, even fork (which copies the parent's memory at the start):
    // the child's appends happen in its own copy.
    for m in [StartMethod::Spawn, StartMethod::ForkServer, StartMethod::Fork] {
        let p1 = get_context(Some(m)).process(square_list, mylist.clone());
        p1.start()?;
        p1.join()?;
        println!("Result(in main program, {m}): {:?}", *RESULT.lock().unwrap());
        assert!(RESULT.lock().unwrap().is_empty());
    }

    // Shared memory is the exception: both processes map the same pages.
    let shared = RawArray::<i32>::zeroed(mylist.len())?;
    let p = Process::new(square_into_shared, (mylist, shared.clone()));
    p.start()?;
    p.join()?;
    println!("Shared array (in main program): {:?}", shared.to_vec());
    assert_eq!(shared.to_vec(), [1, 4, 9, 16]);
    Ok(())
}
