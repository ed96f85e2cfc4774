// What the bench prints as it goes, and an error as one line of text.

export const log = (line) => console.log(line);
export const errorText = (error) => (error instanceof Error ? error.message : String(error));
