// Placeholder: the @quartet/testing public API lands here.
export {};
