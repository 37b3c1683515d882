// Chain transactions as Kasa records them: each hash is claimed once in all of Kasa, by the
// withdrawal completed with it or the top-up credited with it, in that state change's transaction.
import type { Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';
import { mapConstraints } from '../db/constraints.ts';
import { errors } from '../errors.ts';

export type ChainTransactionKind = DB['chain_transactions']['kind'];

/** Records a hash as used by `ref`; a hash already recorded (by anyone) → 409 TX_HASH_USED. */
export async function claimTxHash(
  trx: Transaction<DB>,
  claim: { txHash: string; network: string; kind: ChainTransactionKind; ref: string; at: Date },
): Promise<void> {
  try {
    await trx
      .insertInto('chain_transactions')
      .values({ tx_hash: claim.txHash.toLowerCase(), network: claim.network, kind: claim.kind, ref: claim.ref, created_at: claim.at })
      .execute();
  } catch (error) {
    mapConstraints({ chain_transactions_pkey: errors.txHashUsed })(error);
  }
}
