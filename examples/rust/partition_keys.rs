//! Prints the partition ferrokafka's built-in partitioner picks for each key: reads
//! hex-encoded keys, one per line, from stdin. The interop suite compares the answers with
//! where librdkafka put the same keys.
//!
//! Usage: partition_keys PARTITIONER PARTITIONS < keys.hex

use std::io::{BufRead, Write};

use ferrokafka::partitioner::{BuiltinPartitioner, Partitioner};

fn unhex(line: &str) -> Option<Vec<u8>> {
    (0..line.len()).step_by(2).map(|i| u8::from_str_radix(line.get(i..i + 2)?, 16).ok()).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, partitions] = args.as_slice() else {
        return Err("usage: partition_keys PARTITIONER PARTITIONS < keys.hex".into());
    };
    let partitioner = BuiltinPartitioner::from_name(name).ok_or("unknown partitioner")?;
    let partitions: usize = partitions.parse()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let key = unhex(line.trim()).ok_or("keys must be hex")?;
        writeln!(out, "{}", partitioner.partition("t", Some(&key), partitions))?;
    }
    Ok(())
}
