//! Squares into a shared `Array`, their sum in a shared `Value`: Python's
//!
//! ```python
//! result = multiprocessing.Array('i', 4)
//! square_sum = multiprocessing.Value('i')
//! p1 = multiprocessing.Process(target=square_list, args=(mylist, result, square_sum))
//! ```
//!
//! Run with `cargo run --example shm_squares`.

use multiproc::{Array, Process, Value};

fn square_list((mylist, result, square_sum): (Vec<i32>, Array<i32>, Value<i32>)) {
    {
        // One lock for the whole fill: the guard derefs to `&mut [i32]`.
        let mut out = result.acquire().expect("lock");
        for (slot, num) in out.iter_mut().zip(&mylist) {
            *slot = num * num;
        }
    }
    square_sum.set(result.to_vec().iter().sum());
    println!("Result(in process p1): {:?}", result.to_vec());
    println!("Sum of squares(in process p1): {}", square_sum.get());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mylist = vec![1, 2, 3, 4];
    let result = Array::<i32>::zeroed(4)?;
    let square_sum = Value::new(0i32)?;

    let p1 = Process::new(square_list, (mylist, result.clone(), square_sum.clone()));
    p1.start()?;
    p1.join()?;

    println!("Result(in main program): {:?}", result.to_vec());
    println!("Sum of squares(in main program): {}", square_sum.get());
    assert_eq!(result.to_vec(), [1, 4, 9, 16]);
    assert_eq!(square_sum.get(), 30);
    Ok(())
}
