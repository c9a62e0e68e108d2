"""Contract/Python drift: the Tolk sources against their Python mirrors.

contracts/*.tolk is the single source of every layout, opcode, exit code and status number;
src/cocoon_pool/contracts/{messages,events,storage,views}.py restate them by hand. This reads
the Tolk structs with a small parser (a regex over the struct bodies) and checks that each
Python twin (the class of the same name) has the same prefix and prefix width, the same fields
in the same order (camelCase -> snake_case) and the same field kinds, as recorded in the
dataclass metadata ("tl") by the helpers of cocoon_pool.contracts.codec.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from ton_core import Address

from cocoon_pool.contracts import events, messages, storage, views
from cocoon_pool.contracts.codec import (
    Addr,
    Bits,
    Bool,
    Coins,
    EmptyDict,
    FieldType,
    Inline,
    InlineOrRef,
    Int,
    Nested,
    RawCell,
    Ref,
    TlbStruct,
    Uint,
)
from cocoon_pool.contracts.constants import upper_snake
from cocoon_pool.contracts.exit_codes import exit_codes

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
MIRROR_MODULES: tuple[ModuleType, ...] = (messages, events, storage)

# Tolk structs that have no Python twin in messages.py, events.py or storage.py, and why.
TOLK_ONLY: dict[str, str] = {
    # storage parts Python never builds: it keeps the cell (or dictionary) holding them opaque
    "EpochRecord": "packed into MemberState.history (a raw cell); read via views.EpochRecordView",
    "ClaimSlip": "value of MemberState.unclaimed, an opaque dictionary; read via UnclaimedView",
    "ReportingEpoch": "behind DistributionStorage.reporting (opaque cell); read via ReportingView",
    "FinalEpoch": "value of FinalEpochs.older, an opaque dictionary; read via FinalEpochView",
    "MemberLink": "a link of VerifyMember.more, built by messages.member_links (checked there)",
    # values that live on the TVM stack only
    "ParticipantDerivation": "two builders on the stack during a report batch, never stored",
    # get-method results: StackView classes in views.py, checked by test_get_method_views
    "PoolInfo": "get-method result of poolInfo (views.PoolInfo)",
    "PendingChangeView": "get-method result of pendingChange (views.PendingChangeView)",
    "RegistryInfo": "get-method result of registryInfo (views.RegistryInfo)",
    "ParticipantInfo": "get-method result of participantInfo (views.ParticipantInfo)",
    "UnclaimedView": "get-method result of unclaimedEpoch (views.UnclaimedView)",
    "HistoryView": "get-method result of epochRecord (views.EpochRecordView)",
    "DistributionLedger": "get-method result of ledger (views.Ledger)",
    "ReportingView": "get-method result of reportingEpoch (views.ReportingView)",
    "FinalEpochView": "get-method result of finalEpoch (views.FinalEpochView)",
    "DistributionLinks": "get-method result of links, which Python does not call",
}

# Get-method name -> the views.py class that reads its result (None: Python does not read it).
GET_VIEWS: dict[str, type[views.StackView] | None] = {
    "poolInfo": views.PoolInfo,
    "roles": views.RolesView,
    "pendingChange": views.PendingChangeView,
    "registryInfo": views.RegistryInfo,
    "ledger": views.Ledger,
    "reportingEpoch": views.ReportingView,
    "finalEpoch": views.FinalEpochView,
    "participantInfo": views.ParticipantInfo,
    "unclaimedEpoch": views.UnclaimedView,
    "epochRecord": views.EpochRecordView,
    "links": None,
}

# The documented exit-code range of each contract (errors.tolk's section headers).
ERROR_RANGES: dict[str, range] = {
    "PoolOperator": range(100, 200),
    "ParticipantRegistry": range(200, 300),
    "Participant": range(300, 400),
    "RewardDistribution": range(400, 500),
}

# Each contract's error enum in errors.tolk.
ERROR_ENUMS = {
    "PoolOperator": "PoolError",
    "ParticipantRegistry": "RegistryError",
    "Participant": "ParticipantError",
    "RewardDistribution": "DistributionError",
}

# Enums whose members Python restates as constants: Tolk enum -> Python name prefix.
ENUM_PREFIXES = {
    "PoolStatus": "STATUS_",
    "Role": "ROLE_",
    "MemberStatus": "MEMBER_",
    "OwnerAction": "OWNER_ACTION_",
}

# Named constants restated in Python: (Tolk file, Python module, name prefixes).
MIRRORED_CONSTANTS: tuple[tuple[str, ModuleType, tuple[str, ...]], ...] = (
    ("storage.tolk", storage, ("STATUS_", "ROLE_", "MEMBER_", "HISTORY_")),
    ("messages.tolk", messages, ("OWNER_ACTION_",)),
    ("PoolOperator.tolk", messages, ("UPGRADE_", "MAX_ORACLE_KEYS")),
)


# ---------------------------------------------------------------- the Tolk side


@dataclass(frozen=True)
class TolkField:
    name: str
    type: str


@dataclass(frozen=True)
class TolkStruct:
    name: str
    file: str
    line: int
    prefix: int | None
    prefix_bits: int
    fields: tuple[TolkField, ...]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


_COMMENT = re.compile(r"//[^\n]*")
_STRUCT = re.compile(
    r"^struct\s*(?:\(\s*(0x[0-9a-fA-F]+|0b[01]+)\s*\)\s*)?(\w+)\s*\{([^{}]*)\}", re.MULTILINE
)
_FIELD = re.compile(r"(\w+)\s*:\s*([^=]+?)\s*(?:=.*)?")
_ALIAS = re.compile(r"^type\s+(\w+)\s*=(.*?)(?=^\S|\Z)", re.MULTILINE | re.DOTALL)
_GET = re.compile(r"^get\s+fun\s+(\w+)\s*\([^)]*\)\s*:\s*(\w+)", re.MULTILINE)
_CONST = re.compile(r"^const\s+([A-Z][A-Z0-9_]*)\s*=\s*(\S+)\s*$", re.MULTILINE)


def strip_comments(text: str) -> str:
    """The source without ``//`` comments (line breaks kept, so line numbers stay right)."""
    return _COMMENT.sub("", text)


def parse_structs(text: str, file: str) -> list[TolkStruct]:
    """Every ``struct [(prefix)] Name { field: type ... }`` in one Tolk source."""
    code = strip_comments(text)
    out = []
    for m in _STRUCT.finditer(code):
        prefix_text, name, body = m.groups()
        prefix: int | None = None
        bits = 0
        if prefix_text is not None:
            prefix = int(prefix_text, 0)
            digits = prefix_text[2:]
            bits = len(digits) * 4 if prefix_text.startswith("0x") else len(digits)
        fields = []
        for raw in re.split(r"[;\n]", body):
            item = raw.strip().rstrip(",").strip()
            if not item:
                continue
            fm = _FIELD.fullmatch(item)
            assert fm is not None, f"{file}: struct {name}: cannot parse field `{item}`"
            fields.append(TolkField(fm[1], fm[2].replace(" ", "")))
        line = code.count("\n", 0, m.start()) + 1
        out.append(TolkStruct(name, file, line, prefix, bits, tuple(fields)))
    return out


def parse_aliases(text: str) -> dict[str, list[str]]:
    """``type Name = A | B | ...`` -> the names on the right-hand side."""
    code = strip_comments(text)
    return {m[1]: re.findall(r"[\w<>,?]+", m[2].replace("|", " ")) for m in _ALIAS.finditer(code)}


def parse_int_constants(text: str) -> dict[str, int]:
    """``const NAME = <integer literal>`` (``ton("...")`` and expressions are skipped)."""
    out = {}
    for name, value in _CONST.findall(strip_comments(text)):
        if re.fullmatch(r"0x[0-9a-fA-F]+|0b[01]+|\d+", value):
            out[name] = int(value, 0)
    return out


def tolk_sources() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(CONTRACTS.glob("*.tolk"))}


@cache
def tolk_structs() -> dict[str, TolkStruct]:
    found: dict[str, TolkStruct] = {}
    for file, text in tolk_sources().items():
        for struct in parse_structs(text, file):
            other = found.get(struct.name)
            assert other is None, f"struct {struct.name} at {struct.where} and {other.where}"
            found[struct.name] = struct
    return found


_ENUM_TYPE = re.compile(r"^enum\s+(\w+)\s*:\s*(\w+)\s*\{", re.MULTILINE)
_ENUM = re.compile(r"^enum\s+(\w+)[^{]*\{(.*?)^\}", re.MULTILINE | re.DOTALL)
_ENUM_MEMBER = re.compile(r"^\s*(\w+)\s*=\s*(\S+?)\s*,?\s*$", re.MULTILINE)


@cache
def tolk_enum_types() -> dict[str, str]:
    """``enum Name: uintN`` -> ``uintN``: how a field of that enum type is serialized."""
    return {m[1]: m[2] for text in tolk_sources().values() for m in _ENUM_TYPE.finditer(text)}


def parse_enums(text: str) -> dict[str, dict[str, int]]:
    """``enum Name { Member = <int> ... }`` -> members with their written-out values."""
    return {
        m[1]: {k: int(v, 0) for k, v in _ENUM_MEMBER.findall(strip_comments(m[2]))}
        for m in _ENUM.finditer(text)
    }


@cache
def tolk_aliases() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text in tolk_sources().values():
        out.update(parse_aliases(text))
    return out


# ---------------------------------------------------------------- the Python side


@cache
def python_twins() -> dict[str, type[TlbStruct]]:
    """Every TlbStruct class defined in messages.py, events.py or storage.py, by name."""
    found: dict[str, type[TlbStruct]] = {}
    for module in MIRROR_MODULES:
        for name, obj in vars(module).items():
            if (
                isinstance(obj, type)
                and issubclass(obj, TlbStruct)
                and obj.__module__ == module.__name__
            ):
                other = found.get(name)
                assert other is None, f"{name}: in {other.__module__} and {obj.__module__}"
                found[name] = obj
    return found


def describe(kind: FieldType) -> str:
    """A field kind the way codec.py's helpers spell it, e.g. ``u(32)`` or ``Ref(PoolConfig)``."""
    opt = ", optional=True"
    if isinstance(kind, Uint):
        return f"u({kind.bits})"
    if isinstance(kind, Int):
        return f"Int({kind.bits})"
    if isinstance(kind, Bool):
        return "boolean()"
    if isinstance(kind, Coins):
        return "coins()"
    if isinstance(kind, Addr):
        return "opt_addr()" if kind.optional else "addr()"
    if isinstance(kind, Bits):
        return f"Bits({kind.bits})"
    if isinstance(kind, RawCell):
        return "RawCell(optional=True)" if kind.optional else "RawCell()"
    if isinstance(kind, Ref):
        return f"Ref({kind.struct.__name__}{opt if kind.optional else ''})"
    if isinstance(kind, Nested):
        return f"Nested({kind.struct.__name__})"
    if isinstance(kind, Inline):
        return f"Inline({kind.struct.__name__})"
    if isinstance(kind, InlineOrRef):
        return f"InlineOrRef({kind.struct.__name__})"
    if isinstance(kind, EmptyDict):
        return "EmptyDict()"
    return repr(kind)


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# ---------------------------------------------------------------- the comparison


def expected_kinds(
    tolk_type: str, structs: Mapping[str, TolkStruct], twins: Mapping[str, type[TlbStruct]]
) -> set[str]:
    """The Python field kinds (as :func:`describe` spells them) that mirror a Tolk type."""
    optional = tolk_type.endswith("?")
    base = tolk_enum_types().get(tolk_type.removesuffix("?"), tolk_type.removesuffix("?"))
    if (m := re.fullmatch(r"Cell<(\w+)>", base)) is not None:
        inner = m[1]
        out = {f"Ref({inner}{', optional=True' if optional else ''})"}
        if inner not in structs or inner not in twins:
            # a union (ParameterChange) or a struct Python does not mirror: an opaque cell
            out.add("RawCell(optional=True)" if optional else "RawCell()")
        return out
    if base == "cell":
        return {"RawCell(optional=True)" if optional else "RawCell()"}
    if base == "address":
        return {"opt_addr()" if optional else "addr()"}
    if base in structs and base in twins:
        return {f"Inline({base})" if optional else f"Nested({base})"}
    if not optional:
        if (m := re.fullmatch(r"uint(\d+)", base)) is not None:
            return {f"u({m[1]})"}
        if (m := re.fullmatch(r"int(\d+)", base)) is not None:
            return {f"Int({m[1]})"}
        if (m := re.fullmatch(r"bits(\d+)", base)) is not None:
            return {f"Bits({m[1]})"}
        simple = {"int": "Int(257)", "coins": "coins()", "bool": "boolean()"}
        if base in simple:
            return {simple[base]}
        if base.startswith("map<"):
            return {"EmptyDict()", "RawCell(optional=True)"}
    raise ValueError(f"no Python field kind is known for the Tolk type `{tolk_type}`")


def struct_drift(
    ts: TolkStruct,
    cls: type[TlbStruct],
    structs: Mapping[str, TolkStruct],
    twins: Mapping[str, type[TlbStruct]],
) -> list[str]:
    """What differs between a Tolk struct and its Python twin (empty: nothing)."""
    where = f"{ts.name} ({ts.where} vs {cls.__module__}.{cls.__qualname__})"
    problems = []

    def show(prefix: int | None, bits: int) -> str:
        return "none" if prefix is None else f"{prefix:#0{bits // 4 + 2}x}/{bits} bits"

    tolk_prefix = show(ts.prefix, ts.prefix_bits)
    py_prefix = show(cls.PREFIX, cls.PREFIX_BITS)
    if tolk_prefix != py_prefix:
        problems.append(f"{where}: prefix: Tolk {tolk_prefix}, Python {py_prefix}")

    py_fields = dataclasses.fields(cls)
    tolk_names = [snake(f.name) for f in ts.fields]
    py_names = [f.name for f in py_fields]
    if tolk_names != py_names:
        detail = []
        if missing := [n for n in tolk_names if n not in py_names]:
            detail.append(f"missing in Python: {missing}")
        if extra := [n for n in py_names if n not in tolk_names]:
            detail.append(f"only in Python: {extra}")
        if not detail:
            detail.append("same fields, different order")
        problems.append(
            f"{where}: fields differ ({'; '.join(detail)}):\n"
            f"    Tolk   {tolk_names}\n    Python {py_names}"
        )
        return problems

    for tf, pf in zip(ts.fields, py_fields, strict=True):
        field_where = f"{where}: field {tf.name}"
        kind = pf.metadata.get("tl")
        if not isinstance(kind, FieldType):
            problems.append(f"{field_where}: the Python field has no 'tl' metadata")
            continue
        try:
            expected = expected_kinds(tf.type, structs, twins)
        except ValueError as exc:
            problems.append(f"{field_where}: {exc}")
            continue
        got = describe(kind)
        if got not in expected:
            want = " or ".join(sorted(expected))
            problems.append(f"{field_where}: Tolk `{tf.type}` needs {want}, Python has {got}")
            continue
        target = getattr(kind, "struct", None)
        if target is not None and twins.get(target.__name__) not in (None, target):
            problems.append(
                f"{field_where}: Python refers to {target.__module__}.{target.__qualname__}, "
                f"not the twin {twins[target.__name__].__module__}.{target.__name__}"
            )
    return problems


# ---------------------------------------------------------------- structs


def test_parser_reads_the_struct_shapes() -> None:
    structs = tolk_structs()
    assert len(structs) > 80, sorted(structs)
    deploy = structs["DeployPool"]
    assert (deploy.prefix, deploy.prefix_bits) == (0x7C0A0001, 32)
    assert deploy.fields == (TolkField("queryId", "uint64"),)
    assert (structs["ChangeCommission"].prefix, structs["ChangeCommission"].prefix_bits) == (1, 8)
    assert structs["ChangeOracleKeys"].fields == (
        TolkField("quorum", "uint8"),
        TolkField("keys", "map<uint8,uint256>"),
    )
    assert structs["MetricsReport"].prefix is None
    assert structs["ConfirmOwnerAction"].fields[-1] == TolkField("excessTo", "address")
    # the ``//`` comments between DistributionStorage's fields are not fields
    storage_fields = [f.name for f in structs["DistributionStorage"].fields]
    assert storage_fields[:3] == ["pausedAt", "reporting", "config"]


def test_checker_reports_drift() -> None:
    """The comparison itself: a changed width, prefix, field order or kind is reported."""
    twins = python_twins()
    source = """
        struct (0x7c0a0009) EmergencyWithdraw { queryId: uint32; amount: coins }
        struct (0x7c0a0099) ClaimPending { queryId: uint64 }
        struct (0x7c0d0006) BindWorker { queryId: uint64; nodeWallet: address?; worker: address }
        struct SignatureLink { signature: OracleSignature; next: cell }
    """
    source = "\n".join(line.strip() for line in source.splitlines())
    found = {s.name: s for s in parse_structs(source, "test.tolk")}
    structs = {**tolk_structs(), **found}
    report = {name: struct_drift(s, twins[name], structs, twins) for name, s in found.items()}
    assert report["EmergencyWithdraw"] == [
        "EmergencyWithdraw (test.tolk:2 vs cocoon_pool.contracts.messages.EmergencyWithdraw): "
        "field queryId: Tolk `uint32` needs u(32), Python has u(64)"
    ]
    assert "prefix: Tolk 0x7c0a0099/32 bits, Python 0x7c0d0007/32 bits" in report["ClaimPending"][0]
    assert "same fields, different order" in report["BindWorker"][0]
    assert report["SignatureLink"][0].endswith(
        "field next: Tolk `cell` needs RawCell(), Python has RawCell(optional=True)"
    )


def test_every_tolk_struct_has_a_python_twin_or_a_reason() -> None:
    structs, twins = tolk_structs(), python_twins()
    unexplained = sorted(
        f"{s.name} ({s.where})" for s in structs.values() if s.name not in twins | TOLK_ONLY
    )
    assert not unexplained, (
        "Tolk structs with no Python class of the same name in messages.py, events.py or "
        f"storage.py (mirror them, or add them to TOLK_ONLY with a reason): {unexplained}"
    )
    stale = sorted(name for name in TOLK_ONLY if name not in structs or name in twins)
    assert not stale, f"TOLK_ONLY entries that are not Tolk-only structs any more: {stale}"


@pytest.mark.parametrize("name", sorted(set(tolk_structs()) - set(TOLK_ONLY)))
def test_struct_matches_its_python_twin(name: str) -> None:
    structs, twins = tolk_structs(), python_twins()
    if name not in twins:
        pytest.fail(f"{name} has no Python twin (see test_every_tolk_struct_has_a_python_twin)")
    problems = struct_drift(structs[name], twins[name], structs, twins)
    assert not problems, "\n".join(problems)


def test_prefixes_are_unique() -> None:
    seen: dict[tuple[int, int], str] = {}
    clashes = []
    for s in tolk_structs().values():
        if s.prefix is None:
            continue
        key = (s.prefix, s.prefix_bits)
        if key in seen:
            clashes.append(f"{s.name} ({s.where}) and {seen[key]}: prefix {s.prefix:#x}")
        seen.setdefault(key, f"{s.name} ({s.where})")
    assert not clashes, "\n".join(clashes)


def test_parameter_change_union_matches_python() -> None:
    tolk = tolk_aliases()["ParameterChange"]
    python = [cls.__name__ for cls in messages.PARAMETER_CHANGES]
    assert tolk == python, f"type ParameterChange: Tolk {tolk}, messages.PARAMETER_CHANGES {python}"


def test_every_event_is_decoded() -> None:
    tolk = {s.name for s in tolk_structs().values() if s.file == "events.tolk"}
    python = {cls.__name__ for cls in events.EVENT_TYPES.values()}
    assert tolk == python, (
        f"events.EVENT_TYPES lacks {sorted(tolk - python)}, has extra {sorted(python - tolk)}"
    )


# ---------------------------------------------------------------- get-method views


def stack_kind(tolk_type: str) -> str:
    """How a get-method result field lies on the stack (views.py's "stack" metadata)."""
    base = tolk_enum_types().get(tolk_type.removesuffix("?"), tolk_type.removesuffix("?"))
    if base == "bool":
        return "bool"
    if base == "address":
        return "addr"
    if base == "cell" or base.startswith(("Cell<", "map<")):
        return "cell"
    if base in ("int", "coins") or re.fullmatch(r"u?int\d+", base):
        return "int"
    raise ValueError(f"no stack kind is known for the Tolk type `{tolk_type}`")


def test_get_method_views() -> None:
    structs = tolk_structs()
    results: dict[str, str] = {}
    for text in tolk_sources().values():
        for method, result in _GET.findall(strip_comments(text)):
            if result in structs:
                assert results.get(method, result) == result, f"get {method}: two result types"
                results[method] = result
    assert set(results) == set(GET_VIEWS), (
        f"get-methods returning a struct: {sorted(results)}; GET_VIEWS: {sorted(GET_VIEWS)}"
    )
    mapped = {cls for cls in GET_VIEWS.values() if cls is not None}
    all_views = {
        obj
        for obj in vars(views).values()
        if isinstance(obj, type) and issubclass(obj, views.StackView) and obj is not views.StackView
    }
    assert all_views == mapped, f"views.py classes not in GET_VIEWS: {all_views - mapped}"

    problems = []
    for method, view in GET_VIEWS.items():
        if view is None:
            continue
        ts = structs[results[method]]
        where = f"get {method}(): {ts.name} ({ts.where}) vs views.{view.__name__}"
        tolk = [(snake(f.name), stack_kind(f.type)) for f in ts.fields]
        python = [(f.name, str(f.metadata.get("stack"))) for f in dataclasses.fields(view)]
        if tolk != python:
            diff = [
                f"    #{i}: Tolk {t}, Python {p}"
                for i, (t, p) in enumerate(zip(tolk, python, strict=False))
                if t != p
            ]
            if len(tolk) != len(python):
                diff.append(f"    Tolk has {len(tolk)} fields, Python {len(python)}")
            problems.append(f"{where}:\n" + "\n".join(diff))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- exit codes and constants


def parse_errors(text: str) -> tuple[dict[str, int], list[str]]:
    """``ERR_`` name -> code, and what is wrong with the codes' values or sections.

    Each contract's codes are one enum under a ``// Contract: lo-hi`` header.
    """
    codes: dict[str, int] = {}
    problems = []
    section: str | None = None
    enum: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = strip_comments(raw).strip()
        if (m := re.fullmatch(r"//\s*(\w+):\s*(\d+)\s*-\s*(\d+)", raw.strip())) is not None:
            section = m[1]
            documented = range(int(m[2]), int(m[3]) + 1)
            if ERROR_RANGES.get(section) != documented:
                problems.append(f"errors.tolk:{number}: {section} documented as {m[2]}-{m[3]}")
            continue
        if not line:
            continue
        if (m := re.fullmatch(r"enum\s+(\w+)\s*\{", line)) is not None:
            enum = m[1]
            if ERROR_ENUMS.get(section or "") != enum:
                problems.append(f"errors.tolk:{number}: enum {enum} under section {section}")
            continue
        if line == "}":
            enum = None
            continue
        m = re.fullmatch(r"([A-Z]\w*)\s*=\s*(\d+)", line)
        if m is None or enum is None:
            problems.append(f"errors.tolk:{number}: not an enum member `Name = <decimal>`: {raw}")
            continue
        name, value = f"ERR_{upper_snake(m[1])}", int(m[2])
        if name in codes:
            problems.append(f"errors.tolk:{number}: {name} is declared twice")
        if (other := next((k for k, v in codes.items() if v == value), None)) is not None:
            problems.append(f"errors.tolk:{number}: {name} = {value} is also {other}")
        codes[name] = value
        allowed = ERROR_RANGES.get(section or "")
        if allowed is None:
            problems.append(f"errors.tolk:{number}: {name} is not under a contract's section")
        elif value not in allowed:
            problems.append(
                f"errors.tolk:{number}: {name} = {value} is outside {section}'s range "
                f"{allowed.start}-{allowed.stop - 1}"
            )
    return codes, problems


def test_exit_codes_are_unique_and_in_their_contracts_range() -> None:
    codes, problems = parse_errors((CONTRACTS / "errors.tolk").read_text())
    assert len(codes) > 50
    assert not problems, "\n".join(problems)


def test_python_reads_every_exit_code() -> None:
    codes, _ = parse_errors((CONTRACTS / "errors.tolk").read_text())
    python = exit_codes()
    assert python == codes, (
        f"exit_codes.py misses {sorted(codes.keys() - python.keys())}, "
        f"has extra {sorted(python.keys() - codes.keys())}, "
        f"differs on {sorted(k for k in codes.keys() & python.keys() if codes[k] != python[k])}"
    )


@pytest.mark.parametrize(
    ("file", "module", "prefixes"),
    MIRRORED_CONSTANTS,
    ids=[f"{file}-{module.__name__.rsplit('.', 1)[-1]}" for file, module, _ in MIRRORED_CONSTANTS],
)
def test_constants_match_python(file: str, module: ModuleType, prefixes: tuple[str, ...]) -> None:
    text = (CONTRACTS / file).read_text()
    declared = parse_int_constants(text) | {
        ENUM_PREFIXES[enum] + upper_snake(member): value
        for enum, members in parse_enums(text).items()
        if enum in ENUM_PREFIXES
        for member, value in members.items()
    }
    tolk = {k: v for k, v in declared.items() if k.startswith(prefixes)}
    python = {k: v for k, v in vars(module).items() if k.startswith(prefixes) and type(v) is int}
    assert tolk, f"no {prefixes} constants found in {file}"
    assert tolk == python, "\n".join(
        f"{name}: {file} {tolk.get(name, 'missing')}, "
        f"{module.__name__} {python.get(name, 'missing')}"
        for name in sorted(tolk.keys() | python.keys())
        if tolk.get(name) != python.get(name)
    )


def test_status_names_cover_the_statuses() -> None:
    enums = parse_enums((CONTRACTS / "storage.tolk").read_text())
    statuses = set(enums["PoolStatus"].values())
    members = set(enums["MemberStatus"].values())
    assert set(storage.STATUS_NAMES) == statuses
    assert set(storage.MEMBER_STATUS_NAMES) == members | {0}  # 0: not registered


def test_history_record_bits_match_epoch_record() -> None:
    record = tolk_structs()["EpochRecord"]
    widths = [int(m[1]) for f in record.fields if (m := re.fullmatch(r"u?int(\d+)", f.type))]
    assert len(widths) == len(record.fields), record.fields
    assert sum(widths) == storage.HISTORY_RECORD_BITS, (
        f"EpochRecord ({record.where}) takes {sum(widths)} bits, "
        f"HISTORY_RECORD_BITS is {storage.HISTORY_RECORD_BITS}"
    )


def test_member_links_are_tolks_member_link_chain() -> None:
    """``messages.member_links`` builds Tolk's ``Cell<MemberLink>?`` chain (MemberLink is in
    TOLK_ONLY): one cell per address, ``member: address`` then ``next: Cell<MemberLink>?``,
    in order, the last with no next; none for no address."""
    link = tolk_structs()["MemberLink"]
    assert [(f.name, f.type) for f in link.fields] == [
        ("member", "address"),
        ("next", "Cell<MemberLink>?"),
    ]
    members = [Address(f"0:{i:064x}") for i in (1, 2, 3)]
    assert messages.member_links([]) is None
    cell = messages.member_links(members)
    read: list[Address] = []
    while cell is not None:
        s = cell.begin_parse()
        member = s.load_address()
        assert isinstance(member, Address)
        read.append(member)
        cell = s.load_maybe_ref()
        assert s.remaining_bits == 0 and s.remaining_refs == 0
    assert read == members
