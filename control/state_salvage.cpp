#include "state_salvage.hpp"

#include <chrono>
#include <vector>

namespace nemo::control {

uint64_t steady_ms()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::unique_ptr<StateBackend> open_or_salvage(std::unique_ptr<SalvageableBackend> db, bool refuse_damaged,
                                              const SalvageWords& words, uint64_t t0, StateImage* image,
                                              std::string* error)
{
    *image = StateImage{};
    bool damaged = false;
    if (db->open_db(&damaged, error) && db->load(image, &damaged, error)) {
        image->load_ms = steady_ms() - t0;
        return db;
    }
    if (!damaged) return nullptr;
    if (refuse_damaged) {
        *error = db->path() + ": damaged; state.on_damage = refuse: not started (" + words.move_away +
                 ", or set state.on_damage = salvage)";
        return nullptr;
    }
    db->close_db();
    auto aside = db->move_aside(error);
    if (!aside) return nullptr;
    // The damage the load counted, and the database itself counted as one more.
    const uint64_t damaged_before = image->damaged;
    std::vector<std::string> damage = std::move(image->damage);
    StateImage salvaged = db->recover(*aside, std::move(*image));
    salvaged.damaged = damaged_before + 1;
    salvaged.damage = std::move(damage);
    if (salvaged.damage.size() < kMaxDamageMessages) salvaged.damage.push_back(words.whole_damage);
    salvaged.salvaged_from = *aside;
    if (!db->open_db(&damaged, error)) {
        if (damaged) *error = db->path() + ": a new store could not be made after the damaged one was moved aside";
        return nullptr;
    }
    if (auto e = db->commit(batch_of(salvaged))) {
        *error = e->message;
        return nullptr;
    }
    *image = std::move(salvaged);
    image->load_ms = steady_ms() - t0;
    return db;
}

} // namespace nemo::control
