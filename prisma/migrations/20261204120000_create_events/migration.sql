-- CreateEnum
CREATE TYPE "event_status" AS ENUM ('pending', 'published', 'failed');

-- CreateTable
CREATE TABLE "events" (
    "event_uid" UUID NOT NULL,
    "event_timestamp" TIMESTAMPTZ(3) NOT NULL,
    "solution" VARCHAR(64) NOT NULL,
    "model" VARCHAR(64) NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "event_data" JSONB NOT NULL,
    "status" "event_status" NOT NULL DEFAULT 'pending',
    "publish_attempts" INTEGER NOT NULL DEFAULT 0,
    "published_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "events_pkey" PRIMARY KEY ("event_uid")
);

-- CreateIndex
CREATE INDEX "events_status_event_timestamp_idx" ON "events"("status", "event_timestamp");
