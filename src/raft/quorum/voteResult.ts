/** The outcome of counting votes (or acknowledgements) against a configuration. */
export type VoteResult = 'pending' | 'lost' | 'won';
