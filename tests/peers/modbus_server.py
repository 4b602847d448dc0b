"""A Modbus TCP server from pymodbus, with registers laid out for illunare's interop tests.

Values are encoded here with Python's `struct`, independently of illunare's decoder, in every
byte order (ABCD big-endian; CDAB word-swapped; BADC byte-swapped; DCBA little-endian).
Holding registers 36..99 are left undefined, so reading them is an exception 02 (illegal data
address). Holding register 100 counts the reads that include it; holding register 101 holds the number
of requests unit 1 has served (any table), so a test can see how many requests a poll took;
holding register 102 is a float16 (-2.5). Unit ids 1 and 2 answer;
unit 4 is a press laid out as pipelines/maps/press.toml says (temperature 48.25 °C float32 CDAB
at holding 0, pressure 152.3 bar as int16 tenths at holding 2, cycles 70000 uint32 at input 0,
running coil 0), with values that never change (a stuck PLC, for the flat-line check);
unit 3 takes 5 s to answer anything (a dead RS-485 drop behind a gateway: clients time out).
Other unit ids get exception 04 (pymodbus 3.16 answers so for unknown ids with SimDevice lists,
whatever `ignore_missing_devices` says).

Usage: modbus_server.py --port PORT   (prints READY once it accepts connections)
"""

import argparse
import asyncio
import struct
import sys

from pymodbus.server import StartAsyncTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

ORDERS = {"ABCD", "CDAB", "BADC", "DCBA"}


def words(fmt, value, order="ABCD"):
    """The registers a device stores for `value` packed big-endian with `fmt`, in `order`."""
    assert order in ORDERS
    raw = struct.pack(">" + fmt, value)
    regs = [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]
    if order in ("CDAB", "DCBA"):
        regs.reverse()
    if order in ("BADC", "DCBA"):
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    return regs


def holding_unit1():
    regs = {}

    def put(address, values):
        for i, v in enumerate(values):
            regs[address + i] = v

    put(0, words("f", 21.5, "ABCD"))
    put(2, words("f", -3.25, "CDAB"))
    put(4, words("f", 1013.25, "BADC"))
    put(6, words("f", 0.125, "DCBA"))
    put(8, words("h", -1234))
    put(9, words("H", 65000))
    put(10, words("i", -100000, "ABCD"))
    put(12, words("I", 3000000000, "CDAB"))
    put(14, words("q", -9000000000000, "ABCD"))
    put(18, words("Q", 18000000000000000000, "DCBA"))
    put(22, words("d", 3.141592653589793, "ABCD"))
    put(26, words("d", -2.5e10, "CDAB"))
    put(30, [int.from_bytes(b"PRESS-01"[i:i + 2], "big") for i in range(0, 8, 2)])
    put(34, words("h", 235))
    put(35, [0b0000_0000_0010_0100])
    regs[100] = 0
    regs[101] = 0
    put(102, words("e", -2.5))
    return regs


def blocks(regs):
    """SimData blocks of consecutive registers (gaps stay undefined)."""
    out = []
    for address in sorted(regs):
        if out and out[-1][0] + len(out[-1][1]) == address:
            out[-1][1].append(regs[address])
        else:
            out.append((address, [regs[address]]))
    return [SimData(address=a, values=v, datatype=DataType.REGISTERS) for a, v in out]


REQUESTS = 0


async def count_reads(function_code, start_address, address, count, current_registers, set_values):
    """Holding register 100 counts the reads that include it, 101 all requests of unit 1."""
    global REQUESTS
    REQUESTS += 1
    if function_code == 3:
        for register, value in ((100, None), (101, REQUESTS)):
            i = register - start_address
            if address <= register < address + count and 0 <= i < len(current_registers):
                current_registers[i] = (current_registers[i] + 1 if value is None else value) & 0xFFFF
    return None


async def never_in_time(function_code, start_address, address, count, current_registers, set_values):
    """Unit 3 answers, but only after every sensible client timeout."""
    await asyncio.sleep(5)
    return None


def bits(values):
    return [SimData(address=0, values=values, datatype=DataType.BITS)]


def registers(values):
    return [SimData(address=0, values=values, datatype=DataType.REGISTERS)]


def devices():
    # simdata per device: (coils, discrete inputs, holding registers, input registers)
    unit1 = SimDevice(
        id=1,
        simdata=(bits([True, False, True]), bits([False, True]), blocks(holding_unit1()), registers(words("i", 123456, "BADC") + [7])),
        action=count_reads,
    )
    unit2 = SimDevice(id=2, simdata=(bits([False]), bits([False]), registers(words("f", 42.0)), registers([0])))
    unit3 = SimDevice(id=3, simdata=(bits([False]), bits([False]), registers([0, 0]), registers([0])), action=never_in_time)
    press = SimDevice(
        id=4,
        simdata=(bits([True]), bits([False]), registers(words("f", 48.25, "CDAB") + words("h", 1523)), registers(words("I", 70000))),
    )
    return [unit1, unit2, unit3, press]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = asyncio.create_task(StartAsyncTcpServer(context=devices(), address=("127.0.0.1", args.port)))
    for _ in range(200):
        if server.done():
            server.result()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", args.port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    print("READY", flush=True)
    await server


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
