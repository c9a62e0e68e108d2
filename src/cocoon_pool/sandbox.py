"""A deployed pool on a fresh embedded chain, with the usual cast of wallets.

Shared by the simulator, the benchmarks and the tests so that each of them starts from
the same, fully deployed pool in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ton_core import Address

from cocoon_pool.accounting import Conservation, IncomeTracker
from cocoon_pool.chain.emulator import EmulatedChain, Wallet
from cocoon_pool.chain.types import Trace
from cocoon_pool.contracts.constants import ton
from cocoon_pool.contracts.pool import Pool, PoolParams
from cocoon_pool.contracts.reports import OracleSigner
from cocoon_pool.economics import MemberMetrics
from cocoon_pool.errors import TransactionFailed

WALLET_FUNDS = ton(1_000_000)


@dataclass
class PoolSandbox:
    chain: EmulatedChain
    pool: Pool
    admin: Wallet
    pauser: Wallet
    proxy: Wallet
    keeper: Wallet
    signer: OracleSigner
    params: PoolParams
    tracker: IncomeTracker
    deploy_trace: Trace
    members: dict[str, Wallet] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        chain: EmulatedChain | None = None,
        params: PoolParams | None = None,
        operator_stake: int = ton(10),
        oracle_seed: str = "cocoon-pool-oracle",
    ) -> PoolSandbox:
        chain = chain or EmulatedChain()
        signer = OracleSigner.from_seed_text(oracle_seed)
        params = params or PoolParams(oracle_key=signer.public_key)
        admin = chain.create_wallet("admin", WALLET_FUNDS)
        pauser = chain.create_wallet("pauser", WALLET_FUNDS)
        proxy = chain.create_wallet("cocoon-proxy", WALLET_FUNDS)
        keeper = chain.create_wallet("keeper", WALLET_FUNDS)
        pool, trace = Pool.deploy(chain, admin, params, operator_stake, pauser=pauser.address)
        trace.assert_success()
        return cls(
            chain=chain,
            pool=pool,
            admin=admin,
            pauser=pauser,
            proxy=proxy,
            keeper=keeper,
            signer=signer,
            params=params,
            tracker=IncomeTracker(chain, pool.distribution),
            deploy_trace=trace,
        )

    def fork(self) -> PoolSandbox:
        """An independent copy of this pool and its chain, to branch many cases off one state."""
        self.tracker.update()
        chain = self.chain.fork()
        w = chain.wallets
        return replace(
            self,
            chain=chain,
            pool=Pool(chain, self.pool.operator),
            admin=w[self.admin.name],
            pauser=w[self.pauser.name],
            proxy=w[self.proxy.name],
            keeper=w[self.keeper.name],
            tracker=self.tracker.fork(chain),
            members={name: w[wallet.name] for name, wallet in self.members.items()},
        )

    @property
    def wallet_addresses(self) -> list[Address]:
        return [w.address for w in self.chain.wallets.values()]

    def gas(self, trace: Trace) -> int:
        """Gas of a whole trace, wallets excluded (the figure the gas table reports)."""
        return trace.gas_total(exclude=self.wallet_addresses)

    def wallet(self, name: str, funds: int = WALLET_FUNDS) -> Wallet:
        return self.chain.wallets.get(name) or self.chain.create_wallet(name, funds)

    def add_member(self, name: str, stake: int | None = None, verify: bool = True) -> Wallet:
        """A funded wallet, registered (and by default bound to a worker and verified) as a pool
        member. The worker address is the member's own wallet: the pool never sends it anything
        in these flows."""
        wallet = self.wallet(name)
        worker = wallet.address if verify else None
        stake = stake or self.params.min_stake
        self.pool.register(wallet, stake, worker=worker).assert_success()
        if verify:
            self.pool.verify_member(self.admin, wallet.address).assert_success()
        self.members[name] = wallet
        return wallet

    def conservation(self) -> Conservation:
        return self.tracker.check(self.pool.ledger())

    def assert_conserved(self) -> Conservation:
        result = self.conservation()
        if not result.conserved:
            raise TransactionFailed(
                f"conservation broken by {result.received - result.accounted} nanoton: {result}",
                hint="a contract moved pool money without accounting for it",
            )
        return result

    def close_epoch(self) -> Trace:
        """Advance to the end of the open epoch and close it (finalizing the previous one)."""
        ledger = self.pool.ledger()
        end = ledger.epoch_start + ledger.epoch_length
        if self.chain.now < end:
            self.chain.set_now(end)
        reporting = self.pool.reporting_epoch()
        if reporting.active and self.chain.now <= reporting.deadline:
            self.chain.set_now(reporting.deadline + 1)
        return self.pool.close_epoch(self.keeper).assert_success()

    def report(self, member: Wallet, epoch: int, metrics: MemberMetrics) -> Trace:
        return self.pool.submit_report(self.keeper, self.signer, member.address, epoch, metrics)

    def report_batch(self, epoch: int, reports: Sequence[tuple[Wallet, MemberMetrics]]) -> Trace:
        """Relay several members' signed reports in one batch (one SubmitReport message)."""
        signed = [
            self.pool.signed_report(self.signer, member.address, epoch, metrics)
            for member, metrics in reports
        ]
        return self.pool.submit_reports(self.keeper, signed)

    def finalize(self) -> Trace:
        reporting = self.pool.reporting_epoch()
        if self.chain.now <= reporting.deadline:
            self.chain.set_now(reporting.deadline + 1)
        return self.pool.finalize_epoch(self.keeper).assert_success()
