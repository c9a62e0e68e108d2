"""A deployed pool on a chain: deploy it, send it every operation, read every get-method.

This is the one typed entry point the simulator, the CLI, the keeper and the tests share.
Each operation returns the whole :class:`Trace` it caused, so callers can check gas, exit
codes and value flow; nothing here asserts success on the caller's behalf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from ton_core import Address, Cell, begin_cell

from cocoon_pool.chain.protocol import Chain, SendingWallet
from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts import messages as m
from cocoon_pool.contracts import storage as st
from cocoon_pool.contracts import views as v
from cocoon_pool.contracts.build import pool_contract_code
from cocoon_pool.contracts.codec import TlbStruct
from cocoon_pool.contracts.constants import fee, tolk_constants, ton
from cocoon_pool.contracts.reports import (
    OracleSigner,
    batch_message,
    build_report,
    quorum_message,
    report_value,
)
from cocoon_pool.economics import COMMISSION_DEFAULT_BPS, MemberMetrics

DAY = 86_400


@dataclass(frozen=True)
class PoolParams:
    """Deploy-time configuration of a pool (later changes go through the timelock).

    ``oracle_key`` is key 0 of the oracle set, ``extra_oracle_keys`` keys 1..n-1; a report
    counts when ``oracle_quorum`` distinct keys of the set signed it (default 1 of 1).
    """

    oracle_key: int
    pool_id: int = 0
    commission_bps: int = COMMISSION_DEFAULT_BPS
    min_stake: int = ton(10)
    epoch_length: int = 7 * DAY
    report_grace: int = 1 * DAY
    timelock_seconds: int = 2 * DAY
    unbonding_seconds: int = 7 * DAY
    min_payout: int = ton("0.1")
    min_operator_stake: int = ton(10)
    extra_oracle_keys: tuple[int, ...] = ()
    oracle_quorum: int = 1
    member_cap: int = 0
    """How many members the registry admits (0: no cap); raised later under the timelock."""

    @property
    def oracle_keys(self) -> tuple[int, ...]:
        return (self.oracle_key, *self.extra_oracle_keys)

    def config(self) -> st.PoolConfig:
        return st.PoolConfig(
            commission_bps=self.commission_bps,
            min_stake=self.min_stake,
            epoch_length=self.epoch_length,
            report_grace=self.report_grace,
            timelock_seconds=self.timelock_seconds,
            unbonding_seconds=self.unbonding_seconds,
            min_payout=self.min_payout,
            min_operator_stake=self.min_operator_stake,
            oracle_quorum=self.oracle_quorum,
            oracle_keys=m.oracle_keys_cell(self.oracle_keys),
            member_cap=self.member_cap,
        )


@cache
def pool_codes() -> st.PoolCodes:
    """Code of the three contracts PoolOperator deploys (shipped or compiled, see
    :func:`cocoon_pool.contracts.build.pool_contract_code`; loaded once)."""
    return st.PoolCodes(
        registry_code=pool_contract_code("ParticipantRegistry"),
        distribution_code=pool_contract_code("RewardDistribution"),
        participant_code=pool_contract_code("Participant"),
    )


@cache
def operator_code() -> Cell:
    """Code of PoolOperator, loaded like :func:`pool_codes`."""
    return pool_contract_code("PoolOperator")


MAX_MEMBERS_PER_VERIFY = tolk_constants("PoolOperator.tolk")["MAX_MEMBERS_PER_VERIFY"]
# Members per VerifyMember in the tools' own runs (simulate, the scale run, the gas table): the
# N = 10 comparison run of the scale benchmark fills exactly one, and ten already share the
# batch's fixed part nine ways (9,372 gas per member against 8,521 at the contract's 100).
VERIFY_BATCH = 10


def verify_value(members: int) -> int:
    """What a VerifyMember naming ``members`` members must carry (the change comes back)."""
    return fee("ADMIN_OP_FEE") + (members - 1) * fee("VERIFY_MEMBER_FEE")


def operator_init_data(admin: Address, pauser: Address, params: PoolParams) -> Cell:
    return st.PoolOperatorStorage(
        pool_id=params.pool_id,
        status=st.STATUS_UNDEPLOYED,
        operator_stake=0,
        registry=None,
        distribution=None,
        config=params.config(),
        roles=st.PoolRoles(admin=admin, pauser=pauser),
        codes=pool_codes(),
    ).to_cell()


def deploy_value(params: PoolParams, operator_stake: int) -> int:
    """What the admin sends with DeployPool: both children, the fee, the floor and the stake."""
    return (
        2 * fee("CHILD_DEPLOY_VALUE")
        + fee("ADMIN_OP_FEE")
        + fee("POOL_STORAGE_FLOOR")
        + max(operator_stake, params.min_operator_stake)
    )


def _body(msg: TlbStruct) -> Cell:
    return msg.to_cell()


class Pool:
    """The three addresses of a deployed pool and typed access to all its operations."""

    def __init__(self, chain: Chain, operator: Address) -> None:
        self.chain = chain
        self.operator = operator
        self.codes = pool_codes()
        self.registry = st.registry_address(operator, self.codes)
        self.distribution = st.distribution_address(operator, self.codes)
        self._query_id = 0

    # -- deploy ---------------------------------------------------------------------------

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        admin: SendingWallet,
        params: PoolParams,
        operator_stake: int = 0,
        pauser: Address | None = None,
    ) -> tuple[Pool, Trace]:
        data = operator_init_data(admin.address, pauser or admin.address, params)
        operator, trace = chain.deploy(
            operator_code(),
            data,
            deploy_value(params, operator_stake),
            admin,
            body=_body(m.DeployPool()),
            # Bounceable: a refused deploy (bad config, too little value) returns the value
            # instead of leaving it on an account nobody controls yet.
            bounce=True,
        )
        return cls(chain, operator), trace

    def next_query_id(self) -> int:
        self._query_id += 1
        return self._query_id

    def participant_address(self, member: Address) -> Address:
        return st.participant_address(self.codes.participant_code, self.registry, member)

    # -- members --------------------------------------------------------------------------

    def register(
        self,
        wallet: SendingWallet,
        stake: int,
        *,
        value: int | None = None,
        worker: Address | None = None,
        node_wallet: Address | None = None,
    ) -> Trace:
        """Join with ``stake``; the default value adds the storage reserve and the fee. With
        ``worker`` (and ``node_wallet``) the join binds them too, as :meth:`bind_worker` would,
        in the same message."""
        if value is None:
            value = stake + fee("PARTICIPANT_STORAGE_RESERVE") + fee("REGISTER_FEE")
        binding = m.WorkerBinding.joining(worker, node_wallet)
        body = m.RegisterParticipant(query_id=self.next_query_id(), stake=stake, binding=binding)
        return wallet.send(self.registry, value, _body(body))

    def unregister(self, wallet: SendingWallet, *, value: int | None = None) -> Trace:
        return self._to_participant(wallet, wallet.address, m.RequestUnregister(), value=value)

    def withdraw_stake(self, wallet: SendingWallet, *, value: int | None = None) -> Trace:
        return self._to_participant(wallet, wallet.address, m.WithdrawStake(), value=value)

    def bind_worker(
        self,
        wallet: SendingWallet,
        worker: Address,
        node_wallet: Address | None = None,
        *,
        value: int | None = None,
    ) -> Trace:
        """The member names the Cocoon worker it runs (and its node's wallet, if known)."""
        body = m.BindWorker(query_id=self.next_query_id(), worker=worker, node_wallet=node_wallet)
        return self._to_participant(wallet, wallet.address, body, value=value)

    def claim_pending(self, wallet: SendingWallet, *, value: int | None = None) -> Trace:
        """The member takes out its whole pending amount, however small."""
        body = m.ClaimPending(query_id=self.next_query_id())
        return self._to_participant(wallet, wallet.address, body, value=value)

    def claim_rewards(
        self, wallet: SendingWallet, epoch: int, *, value: int | None = None
    ) -> Trace:
        body = m.ClaimRewards(query_id=self.next_query_id(), epoch=epoch)
        return self._to_participant(wallet, wallet.address, body, value=value)

    def crank_payout(
        self, wallet: SendingWallet, member: Address, epoch: int, value: int | None = None
    ) -> Trace:
        body = m.CrankPayout(query_id=self.next_query_id(), epoch=epoch)
        return self._to_participant(wallet, member, body, value=value)

    def _to_participant(
        self, wallet: SendingWallet, member: Address, body: TlbStruct, value: int | None
    ) -> Trace:
        target = self.participant_address(member)
        return wallet.send(target, fee("MEMBER_OP_FEE") if value is None else value, _body(body))

    # -- oracle and epochs ----------------------------------------------------------------

    def submit_report(
        self,
        relayer: SendingWallet,
        signer: OracleSigner | Sequence[tuple[int, OracleSigner]],
        member: Address,
        epoch: int,
        metrics: MemberMetrics,
        *,
        value: int | None = None,
    ) -> Trace:
        """Relay one member's signed report for ``epoch`` (anyone may relay it). ``signer``: the
        single oracle key (index 0), or (index, signer) pairs for a k-of-n quorum. A batch of
        one."""
        signed = self.signed_report(signer, member, epoch, metrics)
        return self.submit_reports(relayer, [signed], value=value)

    def submit_reports(
        self,
        relayer: SendingWallet,
        reports: Sequence[m.SubmitReport],
        *,
        value: int | None = None,
    ) -> Trace:
        """Relay signed reports (one per member, as ``quorum_message`` or an oracle makes them)
        as one batch, with ``report_value(len(reports))``; the change comes back."""
        body = batch_message(reports, self.next_query_id())
        return relayer.send(
            self.distribution,
            report_value(len(reports)) if value is None else value,
            _body(body),
        )

    def signed_report(
        self,
        signer: OracleSigner | Sequence[tuple[int, OracleSigner]],
        member: Address,
        epoch: int,
        metrics: MemberMetrics,
    ) -> m.SubmitReport:
        """One member's report for ``epoch`` signed by ``signer`` (as ``submit_report`` takes it),
        ready for ``submit_reports``."""
        report = build_report(self.distribution, epoch, member, metrics, self.chain.global_id)
        signers = [(0, signer)] if isinstance(signer, OracleSigner) else list(signer)
        return quorum_message(report, signers)

    def close_epoch(self, wallet: SendingWallet, *, value: int | None = None) -> Trace:
        body = m.CloseEpoch(query_id=self.next_query_id())
        return wallet.send(
            self.distribution, fee("EPOCH_CRANK_FEE") if value is None else value, _body(body)
        )

    def finalize_epoch(self, wallet: SendingWallet, *, value: int | None = None) -> Trace:
        body = m.FinalizeEpoch(query_id=self.next_query_id())
        return wallet.send(
            self.distribution, fee("EPOCH_CRANK_FEE") if value is None else value, _body(body)
        )

    def send_income(self, wallet: SendingWallet, value: int, kind: str = "payout") -> Trace:
        """Income as Cocoon or anyone sends it: ``payout``, ``excesses``, ``empty``, ``comment``."""
        body: Cell | None
        if kind == "payout":
            body = _body(m.CocoonPayout(query_id=self.next_query_id()))
        elif kind == "excesses":
            body = _body(m.CocoonExcesses(query_id=self.next_query_id()))
        elif kind == "comment":
            body = begin_cell().store_uint(0, 32).store_snake_string("cocoon income").end_cell()
        elif kind == "empty":
            body = None
        else:
            raise ValueError(f"unknown income kind {kind!r}")
        # The proxy sends payouts non-bounceable (DESIGN.md §5).
        return wallet.send(self.distribution, value, body, bounce=False)

    # -- admin ----------------------------------------------------------------------------

    def admin_call(
        self, wallet: SendingWallet, body: TlbStruct, *, value: int | None = None
    ) -> Trace:
        return wallet.send(
            self.operator, fee("ADMIN_OP_FEE") if value is None else value, _body(body)
        )

    def verify_member(
        self, admin: SendingWallet, member: Address, *, verified: bool = True
    ) -> Trace:
        """Confirm the worker the member bound (``verified``), or revoke the member: reports
        count only for verified members; revoking never touches stake or rewards."""
        return self.verify_members(admin, [member], verified=verified)

    def verify_members(
        self,
        admin: SendingWallet,
        members: Sequence[Address],
        *,
        verified: bool = True,
        value: int | None = None,
    ) -> Trace:
        """:meth:`verify_member` for up to ``MAX_MEMBERS_PER_VERIFY`` members in one message."""
        if not members:
            raise ValueError("verify_members needs at least one member")
        body = m.VerifyMember(
            query_id=self.next_query_id(),
            member=members[0],
            verified=verified,
            more=m.member_links(members[1:]),
        )
        return self.admin_call(
            admin, body, value=verify_value(len(members)) if value is None else value
        )

    def propose_change(self, admin: SendingWallet, change: m.ParameterChange) -> Trace:
        body = m.ProposeChange(query_id=self.next_query_id(), change=change.to_cell())
        return self.admin_call(admin, body)

    def owner_worker_register(
        self, admin: SendingWallet, member: Address, *, value: int | None = None
    ) -> Trace:
        """Send Cocoon's ``owner_worker_register`` from the pool (the worker's owner) to the
        member's verified worker; the worker's excesses rejoin the operator stake."""
        body = m.SendOwnerAction(
            query_id=self.next_query_id(),
            member=member,
            action=m.OWNER_ACTION_WORKER_REGISTER,
        )
        return self.admin_call(
            admin, body, value=fee("OWNER_ACTION_FEE") if value is None else value
        )

    def owner_wallet_withdraw(
        self, admin: SendingWallet, member: Address, amount: int, *, value: int | None = None
    ) -> Trace:
        """Have the member's node wallet send exactly ``amount`` of its TON to the member's own
        wallet (Cocoon's ``owner_wallet_send_message``, sent by the pool as the wallet's owner).
        """
        body = m.SendOwnerAction(
            query_id=self.next_query_id(),
            member=member,
            action=m.OWNER_ACTION_WALLET_WITHDRAW,
            amount=amount,
        )
        return self.admin_call(
            admin, body, value=fee("OWNER_ACTION_FEE") if value is None else value
        )

    # -- reads ----------------------------------------------------------------------------

    def pool_info(self) -> v.PoolInfo:
        return v.PoolInfo.from_result(self.chain.run_get_method(self.operator, "poolInfo"))

    def roles(self) -> v.RolesView:
        return v.RolesView.from_result(self.chain.run_get_method(self.operator, "roles"))

    def pending_change(self) -> v.PendingChangeView:
        result = self.chain.run_get_method(self.operator, "pendingChange")
        return v.PendingChangeView.from_result(result)

    def registry_info(self) -> v.RegistryInfo:
        return v.RegistryInfo.from_result(self.chain.run_get_method(self.registry, "registryInfo"))

    def ledger(self) -> v.Ledger:
        return v.Ledger.from_result(self.chain.run_get_method(self.distribution, "ledger"))

    def reporting_epoch(self) -> v.ReportingView:
        result = self.chain.run_get_method(self.distribution, "reportingEpoch")
        return v.ReportingView.from_result(result)

    def final_epoch(self, epoch: int) -> v.FinalEpochView:
        result = self.chain.run_get_method(self.distribution, "finalEpoch", [epoch])
        return v.FinalEpochView.from_result(result)

    def participant_info(self, member: Address) -> v.ParticipantInfo:
        result = self.chain.run_get_method(self.participant_address(member), "participantInfo")
        return v.ParticipantInfo.from_result(result)

    def unclaimed(self, member: Address, epoch: int) -> v.UnclaimedView:
        target = self.participant_address(member)
        result = self.chain.run_get_method(target, "unclaimedEpoch", [epoch])
        return v.UnclaimedView.from_result(result)

    def epoch_record(self, member: Address, epoch: int) -> v.EpochRecordView:
        target = self.participant_address(member)
        result = self.chain.run_get_method(target, "epochRecord", [epoch])
        return v.EpochRecordView.from_result(result)
