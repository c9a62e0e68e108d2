"""`cocoon-pool member ...`: a member's operations, as a link for any wallet or sent directly.

By default each command prints the transfer (destination, amount, body) and a
``ton://transfer`` link, so a member can send it from any TON wallet app and no key ever
touches this tool. With ``--send`` it signs it with the member's own wallet v4r2 (mnemonic
from an environment variable or a file, never from the command line), waits for the whole
trace and reports success, or the contract's refusal by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from ton_core import Address
from ton_core.crypto.keys import mnemonic_is_valid

from cocoon_pool import member_links as links
from cocoon_pool.cli.info_cmd import parse_ton
from cocoon_pool.cli.output import (
    console,
    error_console,
    one_line_errors,
    print_json,
    tons,
)
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts.addresses import friendly, parse_address, raw
from cocoon_pool.errors import CocoonPoolError, TransactionFailed, UsageError

if TYPE_CHECKING:
    from cocoon_pool.chain.types import Trace
    from cocoon_pool.pool_config import PoolFile

member_app = typer.Typer(
    help="A member's operations (register, bind, claim, leave): a link for any TON wallet, "
    "or sent from your own wallet with --send.",
    no_args_is_help=True,
)

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The pool's pool.toml (from the operator).")
]
MemberOption = Annotated[
    str | None,
    typer.Option(
        "--member",
        help="Your wallet address (the member). Not needed with --send: the mnemonic's wallet.",
    ),
]
SendOption = Annotated[
    bool,
    typer.Option("--send", help="Sign and send it from your wallet instead of printing a link."),
]
MnemonicEnvOption = Annotated[
    str | None,
    typer.Option(
        "--mnemonic-env", help="With --send: the environment variable holding your 24 words."
    ),
]
MnemonicFileOption = Annotated[
    Path | None,
    typer.Option("--mnemonic-file", help="With --send: a file (mode 600) holding your 24 words."),
]
QueryIdOption = Annotated[
    int,
    typer.Option(
        "--query-id",
        min=0,
        max=U64_MAX,
        help="Query id in the message; the contract's change message echoes it.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@dataclass(frozen=True)
class _Common:
    config: Path
    member: str | None
    send: bool
    mnemonic_env: str | None
    mnemonic_file: Path | None
    query_id: int
    as_json: bool


# Builds the message once the member is known (None only for register, which needs none).
_Build = Callable[["links.PoolTargets", Address | None], "links.MemberMessage"]


def _read_mnemonic(env: str | None, file: Path | None) -> list[str]:
    """The member's 24 words, from the named variable or file; never echoed in errors."""
    hint = "give --mnemonic-env NAME (an exported variable) or --mnemonic-file PATH (mode 600)"
    if (env is None) == (file is None):
        raise UsageError("--send needs exactly one of --mnemonic-env and --mnemonic-file", hint)
    if env is not None:
        if len(env.split()) > 1:
            # The words themselves were passed: refuse without repeating them.
            raise UsageError(
                "--mnemonic-env takes the name of an environment variable, not the words",
                "export the words in a variable and pass its name; clear your shell history",
            )
        text = os.environ.get(env, "")
        if not text.strip():
            raise UsageError(f"environment variable {env} is not set", hint)
        where = f"environment variable {env}"
    else:
        assert file is not None
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read the mnemonic file {file}: {reason}", hint) from None
        where = f"file {file}"
    words = text.split()
    if not mnemonic_is_valid(words):
        raise UsageError(
            f"the {where} does not hold a valid TON mnemonic",
            "it must hold your wallet's 24 words, separated by spaces",
        )
    return words


def _run(
    common: _Common,
    build: _Build,
    *,
    needs_member: bool,
    check: Callable[[PoolFile], None] | None = None,
) -> None:
    # Imported here: pydantic would add to every other command's start-up.
    from cocoon_pool.pool_config import load_pool_file  # noqa: PLC0415

    if not common.send and (common.mnemonic_env or common.mnemonic_file):
        raise UsageError(
            "--mnemonic-env/--mnemonic-file are only read with --send",
            "add --send to sign and send it, or drop them and pass --member for a link",
        )
    member = parse_address(common.member, "member") if common.member else None
    pool_file = load_pool_file(common.config)
    if check is not None:
        check(pool_file)
    targets = links.PoolTargets.of(pool_file)
    if common.send:
        _send(common, pool_file, targets, build, member)
        return
    if needs_member and member is None:
        raise UsageError(
            "missing option --member",
            "give --member <your wallet address>: the message goes to your own Participant "
            "contract, whose address follows from it (or sign it here with --send)",
        )
    message = build(targets, member)
    _show(message, pool_file.address_network, targets, member=member, as_json=common.as_json)


def _show(
    message: links.MemberMessage,
    network: str,
    targets: links.PoolTargets,
    *,
    member: Address | None,
    as_json: bool,
    sent: dict[str, Any] | None = None,
) -> None:
    data = message.to_json(network)
    if member is not None:
        data["member"] = friendly(member, network, bounceable=False)
        data["participant"] = friendly(targets.participant(member), network)
    if sent is not None:
        data["sent"] = sent
    if as_json:
        print_json(data)
        return
    to = "registry" if message.destination == targets.registry else "your participant contract"
    console.print(
        f"[bold]member {message.action}[/bold] on pool {friendly(targets.operator, network)}"
    )
    console.print(f"  send to:     {data['destination']} ({to})", soft_wrap=True)
    console.print(
        f"  amount:      {links.ton_text(message.amount)} TON ({message.amount} nanoton)",
        soft_wrap=True,
    )
    console.print(f"  payload:     {data['body_boc_base64']}", soft_wrap=True, markup=False)
    console.print(f"  comes back:  {message.returns}", soft_wrap=True, markup=False)
    if sent is None:
        if message.action == "register":
            console.print(
                "  send it from the wallet that is to be the member: the pool pays it, and only "
                "it can bind, claim and withdraw",
                soft_wrap=True,
            )
        # Plain print: a console would wrap or style the links, and they must copy whole.
        print(data["link"])
        print(data["tonkeeper_link"])


def _send(
    common: _Common,
    pool_file: PoolFile,
    targets: links.PoolTargets,
    build: _Build,
    member: Address | None,
) -> None:

    words = _read_mnemonic(common.mnemonic_env, common.mnemonic_file)
    network = pool_file.address_network
    if pool_file.endpoint is None:
        raise UsageError(
            f"{common.config.name} names no API endpoint for the {pool_file.network} network",
            hint="set [api] endpoint (for local: start `cocoon-pool devnet` and use its URL); "
            "or drop --send and use the printed link",
        )
    with pool_file.network_chain() as chain:
        wallet = chain.wallet(words, "member", version=pool_file.wallet_version)
        if member is not None and raw(member) != raw(wallet.address):
            raise UsageError(
                f"--member {friendly(member, network, bounceable=False)} is not the mnemonic's "
                f"wallet {friendly(wallet.address, network, bounceable=False)}",
                hint="drop --member (the mnemonic names the member), or use that member's words",
            )
        message = build(targets, wallet.address)
        before = wallet.balance
        if before < message.amount:
            raise CocoonPoolError(
                f"your wallet {friendly(wallet.address, network, bounceable=False)} holds "
                f"{links.ton_text(before)} TON; the message carries "
                f"{links.ton_text(message.amount)} TON",
                hint="top the wallet up (a little more than that pays the network fees)",
            )
        trace = wallet.send(message.destination, message.amount, message.body)
        spent = before - wallet.balance
    _report(
        common, message, targets, wallet=wallet.address, trace=trace, spent=spent, network=network
    )


def _report(
    common: _Common,
    message: links.MemberMessage,
    targets: links.PoolTargets,
    *,
    wallet: Address,
    trace: Trace,
    spent: int,
    network: str,
) -> None:
    refused = links.refusal(trace, wallet)
    reason = None if refused is None else links.refusal_reason(refused, network)
    sent = {
        "success": refused is None,
        "refusal": reason,
        "exit_code": None if refused is None else refused.exit_code,
        "transactions": len(trace),
        "wallet_spent_nanoton": spent,
    }
    _show(message, network, targets, member=wallet, as_json=common.as_json, sent=sent)
    if refused is not None:
        raise TransactionFailed(
            f"the pool refused {message.action}: {reason}; your wallet spent "
            f"{links.ton_text(spent)} TON (the value came back minus network fees)",
            hint="see docs/participant.md for when each operation is refused",
        )
    if not common.as_json:
        console.print(
            f"[green]done[/green]: {len(trace)} transactions, all accepted; your wallet spent "
            f"{tons(spent)} TON"
        )
        joined_unbound = (
            message.action == "register"
            and m.RegisterParticipant.from_cell(message.body).binding is None
        )
        if joined_unbound:
            error_console.print(
                "next: `cocoon-pool member bind --worker <your worker> --send ...`",
                highlight=False,
                markup=False,
            )


def _needs(member: Address | None) -> Address:
    # _run refuses a missing member before any builder that needs one runs.
    assert member is not None
    return member


@member_app.command("register")
def register_command(  # noqa: PLR0917 (a Typer command takes one parameter per option)
    config: ConfigOption,
    stake: Annotated[str, typer.Option("--stake", help="Your stake in TON, e.g. 10.")],
    worker: Annotated[
        str | None,
        typer.Option("--worker", help="Your Cocoon worker's address, bound as you join."),
    ] = None,
    node_wallet: Annotated[
        str | None,
        typer.Option("--node-wallet", help="Your node's Cocoon wallet (optional, with --worker)."),
    ] = None,
    member: MemberOption = None,
    send: SendOption = False,
    mnemonic_env: MnemonicEnvOption = None,
    mnemonic_file: MnemonicFileOption = None,
    query_id: QueryIdOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Join the pool with a stake: RegisterParticipant to the registry; with --worker, the
    worker (and node wallet) are bound in the same message (no separate `member bind`)."""
    with one_line_errors():
        common = _Common(config, member, send, mnemonic_env, mnemonic_file, query_id, as_json)
        amount = parse_ton(stake, "stake")
        worker_address = parse_address(worker, "worker") if worker else None
        node = parse_address(node_wallet, "node wallet") if node_wallet else None
        if node is not None and worker_address is None:
            raise UsageError(
                "--node-wallet is bound together with the worker it belongs to",
                hint="add --worker <your worker's address>, or bind both later with "
                "`cocoon-pool member bind`",
            )

        def build(targets: links.PoolTargets, _member: Address | None) -> links.MemberMessage:
            return links.register(targets, amount, query_id, worker_address, node)

        def check(pool_file: PoolFile) -> None:
            # The pool's minimum, checked before anything is signed or printed: a refused
            # registration would cost the member network fees for nothing.
            minimum = pool_file.params().min_stake
            if amount < minimum:
                raise UsageError(
                    f"stake {links.ton_text(amount)} TON is below the pool's minimum stake "
                    f"{links.ton_text(minimum)} TON",
                    hint=f"stake at least {links.ton_text(minimum)} TON",
                )

        _run(common, build, needs_member=False, check=check)


@member_app.command("bind")
def bind_command(  # noqa: PLR0917
    config: ConfigOption,
    worker: Annotated[str, typer.Option("--worker", help="Your Cocoon worker's address.")],
    node_wallet: Annotated[
        str | None, typer.Option("--node-wallet", help="Your node's Cocoon wallet (optional).")
    ] = None,
    member: MemberOption = None,
    send: SendOption = False,
    mnemonic_env: MnemonicEnvOption = None,
    mnemonic_file: MnemonicFileOption = None,
    query_id: QueryIdOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Name your Cocoon worker (and node wallet): BindWorker to your participant contract."""
    with one_line_errors():
        common = _Common(config, member, send, mnemonic_env, mnemonic_file, query_id, as_json)
        worker_address = parse_address(worker, "worker")
        node = parse_address(node_wallet, "node wallet") if node_wallet else None

        def build(targets: links.PoolTargets, who: Address | None) -> links.MemberMessage:
            return links.bind(targets, _needs(who), worker_address, node, query_id)

        _run(common, build, needs_member=True)


@member_app.command("claim")
def claim_command(  # noqa: PLR0917
    config: ConfigOption,
    epoch: Annotated[
        int, typer.Option("--epoch", min=0, max=U32_MAX, help="The finalized epoch to claim.")
    ],
    member: MemberOption = None,
    send: SendOption = False,
    mnemonic_env: MnemonicEnvOption = None,
    mnemonic_file: MnemonicFileOption = None,
    query_id: QueryIdOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Pull an epoch's reward yourself (any amount): ClaimRewards to your participant contract."""
    with one_line_errors():
        common = _Common(config, member, send, mnemonic_env, mnemonic_file, query_id, as_json)

        def build(targets: links.PoolTargets, who: Address | None) -> links.MemberMessage:
            return links.claim(targets, _needs(who), epoch, query_id)

        _run(common, build, needs_member=True)


# The commands that take nothing but the common options differ only in name, help and the
# message they build; one definition keeps their options and error handling in step.
_SIMPLE_COMMANDS: tuple[
    tuple[str, str, Callable[[links.PoolTargets, Address, int], links.MemberMessage]], ...
] = (
    (
        "claim-pending",
        "Take out your whole pending amount, however small: ClaimPending.",
        links.claim_pending,
    ),
    ("unregister", "Leave: RequestUnregister starts the unbonding period.", links.unregister),
    ("withdraw", "After unbonding, take your stake back: WithdrawStake.", links.withdraw),
)


def _add_simple_command(
    name: str,
    help_text: str,
    builder: Callable[[links.PoolTargets, Address, int], links.MemberMessage],
) -> None:
    def command(  # noqa: PLR0917
        config: ConfigOption,
        member: MemberOption = None,
        send: SendOption = False,
        mnemonic_env: MnemonicEnvOption = None,
        mnemonic_file: MnemonicFileOption = None,
        query_id: QueryIdOption = 0,
        as_json: JsonOption = False,
    ) -> None:
        with one_line_errors():
            common = _Common(config, member, send, mnemonic_env, mnemonic_file, query_id, as_json)

            def build(targets: links.PoolTargets, who: Address | None) -> links.MemberMessage:
                return builder(targets, _needs(who), query_id)

            _run(common, build, needs_member=True)

    # Typer takes the help from the docstring; the name only shows in tracebacks.
    command.__doc__ = help_text
    command.__name__ = command.__qualname__ = f"{name.replace('-', '_')}_command"
    member_app.command(name)(command)


for _name, _help, _builder in _SIMPLE_COMMANDS:
    _add_simple_command(_name, _help, _builder)
