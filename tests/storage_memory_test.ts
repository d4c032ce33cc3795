import { memoryStorage } from "../storage/memory.ts";
import { storageContract } from "./storage_contract.ts";

// One memory backend per namespace: a memory driver has no shared backend to
// prefix, so a fresh instance is what isolation means for it.
storageContract("memory", () => memoryStorage());
