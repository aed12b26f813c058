// The open of a store that may be damaged, the same for every backend: a clean open and load, or the
// damaged database refused (state.on_damage = refuse) or moved aside and replaced by a new one that
// holds what could be recovered of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "state_store.hpp"

namespace nemo::control {

// The damage messages an image keeps (the first ones); the rest are counted only.
constexpr std::size_t kMaxDamageMessages = 8;

// A backend in the steps its open and salvage take.
class SalvageableBackend : public StateBackend {
public:
    // Opens the database; false with *damaged when the cause is damage, with *error for anything else.
    virtual bool open_db(bool* damaged, std::string* error) = 0;
    // Reads the store into *image; false with *damaged as open_db (what was read before stays in *image).
    virtual bool load(StateImage* image, bool* damaged, std::string* error) = 0;
    virtual void close_db() = 0;
    // Moves the damaged database aside, under a name of its own; returns that name.
    virtual std::optional<std::string> move_aside(std::string* error) = 0;
    // What is kept of the store moved aside to `aside`, `read` (what the load read before the damage
    // showed) among it. Its damage count and messages are set by the caller.
    virtual StateImage recover(const std::string& aside, StateImage&& read) = 0;
};

// How a backend names its damaged database in what the operator reads.
struct SalvageWords {
    const char* move_away;    // in the refusal: "(<move_away>, or set state.on_damage = salvage)"
    const char* whole_damage; // the damage message of a salvage
};

// Opens db (its directory already locked) and loads it into *image; salvages it when damaged (unless
// refuse_damaged). `t0`: steady_ms() when the open began, for image->load_ms. nullptr with *error.
std::unique_ptr<StateBackend> open_or_salvage(std::unique_ptr<SalvageableBackend> db, bool refuse_damaged,
                                              const SalvageWords& words, uint64_t t0, StateImage* image,
                                              std::string* error);

// Milliseconds of the steady clock.
uint64_t steady_ms();

} // namespace nemo::control
