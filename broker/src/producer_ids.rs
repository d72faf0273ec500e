//! Producer ids for InitProducerId, unique across restarts: ids are handed out from blocks
//! whose end is recorded on disk before the first id of the block is used.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

const FILE: &str = "producer-id-block";
const BLOCK: i64 = 1000;

#[derive(Debug)]
pub(crate) struct ProducerIdAllocator {
    path: PathBuf,
    /// (next id to hand out, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIdAllocator {
    pub(crate) fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(FILE);
        let reserved_end = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        // Ids below the recorded end may have been handed out before a crash: skip them.
        Ok(ProducerIdAllocator { path, state: Mutex::new((reserved_end, reserved_end)) })
    }

    pub(crate) fn next(&self) -> Result<i64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 >= state.1 {
            let end = state.1 + BLOCK;
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, format!("{end}\n"))
                .and_then(|_| std::fs::rename(&tmp, &self.path))
                .map_err(Error::io("recording producer id block"))?;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }
}
