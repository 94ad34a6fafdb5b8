//! How many threads a piece of work may spread over: the cores this process may use
//! (a container's or a cgroup's CPU quota included), and one when that cannot be known.

pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
