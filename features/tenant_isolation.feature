@security @tenants
Feature: One customer never reaches another customer's chats
  Each connection acts for the customer in its sign-in token and for no one else, whatever
  the question itself claims about who is asking or which chat it belongs to.

  Scenario Outline: Customer B cannot write into customer A's chat, even claiming to be <claimed>
    Given customer A has a chat with one answer in it
    When customer B sends a question into customer A's chat, claiming to be <claimed>
    Then customer B is refused and gets nothing of customer A's chat

    Examples:
      | claimed    |
      | customer B |
      | customer A |

  Scenario: A question that claims to come from another customer is refused
    Given I am connected to the chat backend
    When I ask a question claiming to be another customer
    Then I am refused and nothing is done for that question
    And the connection still answers a ping
