//! In-memory adapters for the ports: the simulator's and the tests' store, queues, mailer
//! and clocks. Deterministic (ordered maps, FIFO queues) so simulations repeat exactly.

pub mod memory;
