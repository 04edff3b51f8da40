// The pickle opcode table: every opcode of protocols 0-5 and how the policy treats it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace pthsafe::detail {

enum class op_class : std::uint8_t {
  unknown,    ///< not a pickle opcode
  torch,      ///< one of the 34 opcodes torch's weights_only unpickler implements
  data_only,  ///< data-only opcode of protocols 0-5: accepted, warned, refused in strict mode
  refused,    ///< always refused (calls by name, extension registry, out-of-band buffers)
};

struct opcode_info {
  std::string_view name;
  op_class cls = op_class::unknown;
};

namespace op {
inline constexpr std::uint8_t MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2',
    FLOAT = 'F', INT = 'I', BININT = 'J', BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N',
    PERSID = 'P', BINPERSID = 'Q', REDUCE = 'R', STRING = 'S', BINSTRING = 'T',
    SHORT_BINSTRING = 'U', UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b',
    GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i',
    LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q',
    LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u',
    BINFLOAT = 'G', PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84,
    TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a,
    LONG4 = 0x8b, BINBYTES = 'B', SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c,
    BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91,
    NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95, BYTEARRAY8 = 0x96,
    NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98;
}  // namespace op

namespace opcode_detail {
struct row { std::uint8_t code; std::string_view name; op_class cls; };
inline constexpr row rows[] = {
    {op::MARK, "MARK", op_class::torch}, {op::STOP, "STOP", op_class::torch},
    {op::GLOBAL, "GLOBAL", op_class::torch}, {op::REDUCE, "REDUCE", op_class::torch},
    {op::BUILD, "BUILD", op_class::torch}, {op::NEWOBJ, "NEWOBJ", op_class::torch},
    {op::APPEND, "APPEND", op_class::torch}, {op::APPENDS, "APPENDS", op_class::torch},
    {op::SETITEM, "SETITEM", op_class::torch}, {op::SETITEMS, "SETITEMS", op_class::torch},
    {op::TUPLE, "TUPLE", op_class::torch}, {op::TUPLE1, "TUPLE1", op_class::torch},
    {op::TUPLE2, "TUPLE2", op_class::torch}, {op::TUPLE3, "TUPLE3", op_class::torch},
    {op::EMPTY_TUPLE, "EMPTY_TUPLE", op_class::torch}, {op::EMPTY_LIST, "EMPTY_LIST", op_class::torch},
    {op::EMPTY_DICT, "EMPTY_DICT", op_class::torch}, {op::EMPTY_SET, "EMPTY_SET", op_class::torch},
    {op::NONE, "NONE", op_class::torch}, {op::NEWTRUE, "NEWTRUE", op_class::torch},
    {op::NEWFALSE, "NEWFALSE", op_class::torch}, {op::BININT, "BININT", op_class::torch},
    {op::BININT1, "BININT1", op_class::torch}, {op::BININT2, "BININT2", op_class::torch},
    {op::LONG1, "LONG1", op_class::torch}, {op::BINFLOAT, "BINFLOAT", op_class::torch},
    {op::BINUNICODE, "BINUNICODE", op_class::torch}, {op::SHORT_BINSTRING, "SHORT_BINSTRING", op_class::torch},
    {op::BINPERSID, "BINPERSID", op_class::torch}, {op::BINGET, "BINGET", op_class::torch},
    {op::LONG_BINGET, "LONG_BINGET", op_class::torch}, {op::BINPUT, "BINPUT", op_class::torch},
    {op::LONG_BINPUT, "LONG_BINPUT", op_class::torch}, {op::PROTO, "PROTO", op_class::torch},
    // data-only opcodes CPython implements and torch does not
    {op::FRAME, "FRAME", op_class::data_only}, {op::MEMOIZE, "MEMOIZE", op_class::data_only},
    {op::SHORT_BINUNICODE, "SHORT_BINUNICODE", op_class::data_only},
    {op::BINUNICODE8, "BINUNICODE8", op_class::data_only}, {op::BINBYTES, "BINBYTES", op_class::data_only},
    {op::SHORT_BINBYTES, "SHORT_BINBYTES", op_class::data_only}, {op::BINBYTES8, "BINBYTES8", op_class::data_only},
    {op::BYTEARRAY8, "BYTEARRAY8", op_class::data_only}, {op::ADDITEMS, "ADDITEMS", op_class::data_only},
    {op::FROZENSET, "FROZENSET", op_class::data_only}, {op::LONG4, "LONG4", op_class::data_only},
    {op::INT, "INT", op_class::data_only}, {op::LONG, "LONG", op_class::data_only},
    {op::FLOAT, "FLOAT", op_class::data_only}, {op::STRING, "STRING", op_class::data_only},
    {op::BINSTRING, "BINSTRING", op_class::data_only}, {op::UNICODE, "UNICODE", op_class::data_only},
    {op::DICT, "DICT", op_class::data_only}, {op::LIST, "LIST", op_class::data_only},
    {op::POP, "POP", op_class::data_only}, {op::POP_MARK, "POP_MARK", op_class::data_only},
    {op::DUP, "DUP", op_class::data_only}, {op::GET, "GET", op_class::data_only},
    {op::PUT, "PUT", op_class::data_only}, {op::STACK_GLOBAL, "STACK_GLOBAL", op_class::data_only},
    // always refused
    {op::INST, "INST", op_class::refused}, {op::OBJ, "OBJ", op_class::refused},
    {op::EXT1, "EXT1", op_class::refused}, {op::EXT2, "EXT2", op_class::refused},
    {op::EXT4, "EXT4", op_class::refused}, {op::PERSID, "PERSID", op_class::refused},
    {op::NEWOBJ_EX, "NEWOBJ_EX", op_class::refused}, {op::NEXT_BUFFER, "NEXT_BUFFER", op_class::refused},
    {op::READONLY_BUFFER, "READONLY_BUFFER", op_class::refused},
};
static_assert(std::size(rows) == 34 + 25 + 9, "34 torch opcodes, 25 data-only, 9 refused");

constexpr std::array<opcode_info, 256> make_table() {
  std::array<opcode_info, 256> t{};
  for (const auto& r : rows) t[r.code] = {r.name, r.cls};
  return t;
}
}  // namespace opcode_detail

inline constexpr std::array<opcode_info, 256> opcode_table = opcode_detail::make_table();

}  // namespace pthsafe::detail
