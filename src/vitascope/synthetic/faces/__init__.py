"""The talking-head world: seeded cartoon faces with their own audio, ground truth, and an analyzer."""
