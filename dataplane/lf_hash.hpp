// The lock-free rte_hash every fast-path table here uses: readers never lock, one writer (the control
// thread), CRC32 hashing.
#pragma once

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include <string>

namespace nemo::dp {

inline rte_hash* create_lf_hash(const std::string& name, uint32_t entries, uint32_t key_len, std::string* error)
{
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = entries;
    p.key_len = key_len;
    p.hash_func = rte_hash_crc;
    p.socket_id = static_cast<int>(rte_socket_id());
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
    rte_hash* h = rte_hash_create(&p);
    if (!h) *error = "rte_hash_create(" + name + "): " + rte_strerror(rte_errno);
    return h;
}

} // namespace nemo::dp
