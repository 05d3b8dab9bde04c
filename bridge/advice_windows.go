package bridge

// deniedAdvice says what to do for a Pickup file mailbridge may not read:
// on Windows new files take the Pickup folder's permissions.
const deniedAdvice = "give the account mailbridge runs as read access to it, and to the Pickup folder so that new files inherit it"
