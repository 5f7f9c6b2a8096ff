// Placeholder: the @quartet/channels public API lands here.
export {};
