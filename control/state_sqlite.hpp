// The embedded backend of the durable state: SQLite in WAL mode (synchronous=FULL: a commit is on the
// disk when it returns, one sync of the log), one file state.db in state.dir, held by one daemon at a
// time (a lock file beside it). Why SQLite: bench/README.md, "Durable state".
#pragma once

#include <memory>
#include <string>

#include "state_store.hpp"

namespace nemo::control {

// The schema this build writes (PRAGMA user_version); a store of another one is refused with a message.
inline constexpr int kStateSchemaVersion = 1;
// PRAGMA application_id of a nemo-ha store ("NEMO"): a database of another program is refused.
inline constexpr int kStateApplicationId = 0x4e454d4f;

// Opens (creating when absent) DIR/state.db and reads it into *image. Records that do not decode are
// counted in image->damaged and removed. A file SQLite finds damaged is, unless refuse_damaged, moved
// aside (image->salvaged_from) and a new store made of what could be read. Null with *error (naming the
// path) when the store cannot be used.
std::unique_ptr<StateBackend> open_sqlite_state(const std::string& dir, bool refuse_damaged, StateImage* image,
                                                std::string* error);

} // namespace nemo::control
