"""scapy definitions of what scapy 2.5 lacks for nemo-ha: the draft's IPv4 Care-of Address option.

Run under /usr/bin/python3 (Debian's scapy). Importing this module registers the option's type with
scapy's Mobility Header dissector, so that scapy both builds and reads it.
"""
from scapy.fields import ByteEnumField, ByteField, FlagsField, IPField, ShortField, XBitField
from scapy.layers import inet6
from scapy.layers.inet6 import _MIP6OptAlign, _mobopttypes, moboptcls

V4COA_TYPE = 18  # NOTES.md: RFC 5096's experimental mobility option type

# I R S U, most significant first: FlagsField lists bits least significant first.
V4_I, V4_R, V4_S, V4_U = 0x8, 0x4, 0x2, 0x1


class MIP6OptIPv4CoA(_MIP6OptAlign):
    """draft-wakikawa-nemo-v4tunnel-01 section 4.1. Alignment 4n+2 (NOTES.md)."""

    name = "NEMO v4tunnel - IPv4 Care-of Address"
    fields_desc = [
        ByteEnumField("otype", V4COA_TYPE, _mobopttypes),
        ByteField("olen", 8),
        FlagsField("flags", 0, 4, "USRI"),
        XBitField("reserved", 0, 12),
        ShortField("port", 0),
        IPField("coa", "0.0.0.0"),
    ]
    x = 4
    y = 2


moboptcls[V4COA_TYPE] = MIP6OptIPv4CoA

# BU flag bits as scapy's 7-bit FlagsField "PRMKLHA" numbers them (A is the most significant).
BU_A, BU_H, BU_L, BU_K, BU_M, BU_R = 0x40, 0x20, 0x10, 0x08, 0x04, 0x02
# BA flags "PRK": K most significant.
BA_K, BA_R = 0x4, 0x2

__all__ = ["MIP6OptIPv4CoA", "V4COA_TYPE", "V4_I", "V4_R", "V4_S", "V4_U", "BU_A", "BU_H", "BU_L", "BU_K",
           "BU_M", "BU_R", "BA_K", "BA_R", "inet6"]
