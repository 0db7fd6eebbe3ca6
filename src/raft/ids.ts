/** No node: IDs are never 0. */
export const NONE = 0n;

/** An ID as etcd prints it in logs. */
export const hex = (id: bigint): string => id.toString(16);
