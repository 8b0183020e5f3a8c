import { BusinessRuleError, NotFoundError } from "@orderly/eventsourcing";
import { deciderSpecification, SpecificationError } from "@orderly/eventsourcing/testing";
import { describe, expect, it } from "vitest";
import { orderDecider } from "./decider.js";
import { placed, received, shipOrder, shipped } from "./test-fixtures.js";

// The given/when/then helper must fail when the decider does something else, or every spec would pass vacuously.
describe("deciderSpecification", () => {
  const { given } = deciderSpecification(orderDecider);

  it("fails when the events differ", () => {
    expect(() => given([placed, received]).when(shipOrder()).then([placed])).toThrow(SpecificationError);
    expect(() => given([placed, received]).when(shipOrder()).then([])).toThrow(SpecificationError);
  });

  it("fails when events were expected but the decider threw", () => {
    expect(() => given([placed]).when(shipOrder()).then([shipped])).toThrow(/failed with BusinessRuleError/);
  });

  it("fails when an error was expected but events were decided", () => {
    expect(() => given([placed, received]).when(shipOrder()).then(BusinessRuleError)).toThrow(SpecificationError);
  });

  it("fails on an error of another class or message", () => {
    expect(() => given([placed]).when(shipOrder()).then(NotFoundError)).toThrow(SpecificationError);
    expect(() =>
      given([placed])
        .when(shipOrder())
        .then(BusinessRuleError, /no such words/),
    ).toThrow(SpecificationError);
  });

  it("passes on the right outcome", () => {
    given([placed, received]).when(shipOrder()).then([shipped]);
    given([placed])
      .when(shipOrder())
      .then(BusinessRuleError, /only a paid order/);
  });
});
