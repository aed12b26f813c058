// The default backend of the durable state: RocksDB, in state.dir/db. A commit is one WriteBatch
// written with sync (one append to the write-ahead log, one fdatasync); a torn last record of the log
// is dropped at open (it was never acknowledged), any other damage is reported by the checksums RocksDB
// keeps on every log record and table block. Why RocksDB: bench/README.md, "Durable state".
#pragma once

#include <memory>
#include <string>

#include "state_store.hpp"

namespace nemo::control {

// The format this build writes (kept under the store's meta key); a store of another one is refused.
inline constexpr uint32_t kRocksStateFormat = 1;

// Opens (creating when absent) DIR/db and reads it into *image. Records that do not decode are counted
// in image->damaged and removed. A store RocksDB finds damaged is, unless refuse_damaged, moved aside
// (image->salvaged_from), what RocksDB's repair can read of it is kept, and a new store made of that.
// Null with *error (naming the path) when the store cannot be used.
std::unique_ptr<StateBackend> open_rocksdb_state(const std::string& dir, bool refuse_damaged, StateImage* image,
                                                 std::string* error);

} // namespace nemo::control
